/**
 * The error root. Every error Ferry throws or reports is a FerryError with a stable `code`
 * (documented in docs/errors.md; a test keeps the two in sync). Messages are for people and
 * may change; codes are for programs and do not.
 */

export const ErrorCode = {
  // protocol: bytes on the wire that are not a valid Ferry stream
  FRAME_TOO_LARGE: 'FERRY_FRAME_TOO_LARGE',
  FRAME_TRUNCATED: 'FERRY_FRAME_TRUNCATED',
  FRAME_MALFORMED: 'FERRY_FRAME_MALFORMED',
  UNKNOWN_MESSAGE: 'FERRY_UNKNOWN_MESSAGE',
  BAD_MAGIC: 'FERRY_BAD_MAGIC',
  UNEXPECTED_MESSAGE: 'FERRY_UNEXPECTED_MESSAGE',
  // handshake: a well-formed peer that we will not migrate with
  VERSION_UNSUPPORTED: 'FERRY_VERSION_UNSUPPORTED',
  INCOMPATIBLE_GUEST: 'FERRY_INCOMPATIBLE_GUEST',
  FEATURE_REFUSED: 'FERRY_FEATURE_REFUSED',
  REJECTED: 'FERRY_REJECTED',
  AUTH_REQUIRED: 'FERRY_AUTH_REQUIRED',
  AUTH_FAILED: 'FERRY_AUTH_FAILED',
  NOT_COMMITTED: 'FERRY_NOT_COMMITTED',
  // data integrity
  CHECKSUM_MISMATCH: 'FERRY_CHECKSUM_MISMATCH',
  DECODE_FAILED: 'FERRY_DECODE_FAILED',
  DIGEST_MISMATCH: 'FERRY_DIGEST_MISMATCH',
  PAGE_OUT_OF_RANGE: 'FERRY_PAGE_OUT_OF_RANGE',
  // transport and lifecycle
  CONNECTION_LOST: 'FERRY_CONNECTION_LOST',
  CONNECT_FAILED: 'FERRY_CONNECT_FAILED',
  ADDRESS_IN_USE: 'FERRY_ADDRESS_IN_USE',
  TIMEOUT: 'FERRY_TIMEOUT',
  ABORTED: 'FERRY_ABORTED',
  /** Pre-copy could not fit the downtime limit within its bounds; the guest runs on at the source. */
  WONT_CONVERGE: 'FERRY_WONT_CONVERGE',
  PEER_FAILED: 'FERRY_PEER_FAILED',
  CONTROL_PLANE_FAILED: 'FERRY_CONTROL_PLANE_FAILED',
  OUTCOME_UNKNOWN: 'FERRY_OUTCOME_UNKNOWN',
  POSTCOPY_INTERRUPTED: 'FERRY_POSTCOPY_INTERRUPTED',
  INVALID_STATE: 'FERRY_INVALID_STATE',
  INVALID_ARGUMENT: 'FERRY_INVALID_ARGUMENT',
  BUSY: 'FERRY_BUSY',
  INSECURE: 'FERRY_INSECURE',
  NATIVE_UNAVAILABLE: 'FERRY_NATIVE_UNAVAILABLE',
  KERNEL_TRACKING_UNAVAILABLE: 'FERRY_KERNEL_TRACKING_UNAVAILABLE',
  MAPPING_FAILED: 'FERRY_MAPPING_FAILED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export class FerryError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The bytes a peer sent are not a valid Ferry stream. */
export class ProtocolError extends FerryError {}

/** A valid peer that cannot or will not take part in this migration. */
export class HandshakeError extends FerryError {}

/** Guest memory arrived different from what was sent. */
export class IntegrityError extends FerryError {}

/** The connection, a timer, an abort signal or the peer ended the migration. */
export class MigrationError extends FerryError {}

/** The peer reported a failure of its own; `remoteCode` is the code it sent. */
export class PeerError extends MigrationError {
  readonly remoteCode: string;
  constructor(remoteCode: string, message: string) {
    super(ErrorCode.PEER_FAILED, `peer failed with ${remoteCode}: ${message}`);
    this.remoteCode = remoteCode;
  }
}

/** A caller passed something the API does not accept. */
export class UsageError extends FerryError {}

const knownCodes = new Set<string>(Object.values(ErrorCode));
export function isErrorCode(code: string): code is ErrorCode {
  return knownCodes.has(code);
}

/** Wraps anything thrown into a FerryError, keeping the original as `cause`. */
export function toFerryError(err: unknown, fallback: ErrorCode, message?: string): FerryError {
  if (err instanceof FerryError) return err;
  const text = message ?? (err instanceof Error ? err.message : String(err));
  return new MigrationError(fallback, text, { cause: err });
}
