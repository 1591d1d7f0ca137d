/**
 * Well-formed frames of every message type, for hostile peers to send where they do not belong
 * (and to truncate or oversize), and the raw frame builder for everything else.
 */
import { encodeFrame, Feature, Intent, limits, MessageType as M, messages as m } from '@ferry/engine';
import type { Rng } from './rng.ts';

/** Every message type of the protocol, and a few values no version assigns. */
export const ALL_TYPES: readonly number[] = Object.values(M);
export const UNASSIGNED_TYPES: readonly number[] = [0x00, 0x10, 0x7f, 0x80, 0x8e, 0xff];

export interface SampleContext {
  readonly sessionId: Uint8Array;
  readonly regions: readonly { readonly name: string; readonly sizeBytes: number }[];
  readonly pageSize: number;
  /** xxh64 (seed 0), for a PAGES batch whose checksum is right. */
  readonly xxh64: (data: Uint8Array) => bigint;
}

/** A frame of `type` with `body` (any bytes). */
export function rawFrame(type: number, body: Uint8Array, declaredBodyBytes = body.byteLength): Buffer {
  const out = Buffer.alloc(limits.FRAME_HEADER_BYTES + body.byteLength);
  out.writeUInt32LE(declaredBodyBytes, 0);
  out[4] = type;
  out.set(body, limits.FRAME_HEADER_BYTES);
  return out;
}

export function helloFrame(ctx: SampleContext, intent: number, features: number, overrides: Partial<m.Hello> = {}): Buffer {
  return encodeFrame(M.HELLO, m.hello, {
    versionMin: 1,
    versionMax: 2,
    intent: intent as m.Hello['intent'],
    sessionId: ctx.sessionId,
    pageSize: ctx.pageSize,
    features,
    guestId: 'stranger',
    regions: ctx.regions,
    ...overrides,
  });
}

/** One ZERO page (page 0 of region 0) in round `round`, with its right checksum. */
export function pagesFrame(ctx: SampleContext, round: number, page = 0, region = 0): Buffer {
  const body = Buffer.alloc(12 + limits.PAGE_ENTRY_BYTES);
  body.writeUInt16LE(region, 0);
  body.writeUInt32LE(round, 4);
  body.writeUInt32LE(1, 8);
  body.writeUInt32LE(page, 12);
  body[16] = 0x02; // ZERO
  body.writeBigUInt64LE(ctx.xxh64(new Uint8Array(ctx.pageSize)), 24);
  return rawFrame(M.PAGES, body);
}

/** A well-formed frame of `type` (random bytes for types no version assigns). */
export function sampleFrame(type: number, rng: Rng, ctx: SampleContext): Buffer {
  const digest = BigInt(rng.next()) << 20n;
  const missing = { region: 0, firstPage: 0, pageCount: 8, runs: Uint8Array.of(0, 8) };
  switch (type) {
    case M.HELLO:
      return helloFrame(ctx, Intent.MIGRATE, Feature.POSTCOPY);
    case M.PAGES:
      return pagesFrame(ctx, 0);
    case M.ROUND_END:
      return encodeFrame(M.ROUND_END, m.roundEnd, { round: 0, pages: 1 });
    case M.SWITCHOVER:
      return encodeFrame(M.SWITCHOVER, m.switchover, { round: 1 });
    case M.DEVICE_STATE:
      return encodeFrame(M.DEVICE_STATE, m.deviceState, { totalBytes: 4, offset: 0, data: Uint8Array.of(1, 2, 3, 4) });
    case M.COMPLETE:
      return encodeFrame(M.COMPLETE, m.complete, { digest, totalPages: 1, finalRound: 1 });
    case M.COMMIT:
      return encodeFrame(M.COMMIT, m.empty, {});
    case M.ABORT:
    case M.HELLO_REJECT:
    case M.FAILED:
      return encodeFrame(type, m.errorReport, { code: 'FERRY_ABORTED', message: 'hostile' });
    case M.AUTH_SOURCE:
      return encodeFrame(M.AUTH_SOURCE, m.authSource, { nonce: rng.bytes(limits.AUTH_NONCE_BYTES) });
    case M.AUTH_PROOF:
      return encodeFrame(M.AUTH_PROOF, m.authProof, { mac: rng.bytes(limits.AUTH_MAC_BYTES) });
    case M.POSTCOPY_ENTER:
      return encodeFrame(M.POSTCOPY_ENTER, m.postcopyEnter, { round: 0 });
    case M.POSTCOPY_MISSING:
    case M.RECOVER_MISSING:
      return encodeFrame(type, m.postcopyMissing, missing);
    case M.PROBE_DATA:
      return rawFrame(M.PROBE_DATA, rng.bytes(64));
    case M.PROBE_END:
    case M.PROBE_ACK:
      return encodeFrame(type, m.probeCount, { bytes: 64 });
    case M.ECHO:
    case M.ECHO_REPLY:
      return encodeFrame(type, m.echo, { token: digest });
    case M.HELLO_ACCEPT:
      return encodeFrame(M.HELLO_ACCEPT, m.helloAccept, { version: 2, maxFrameBodyBytes: limits.MAX_FRAME_BODY_BYTES });
    case M.ROUND_ACK:
      return encodeFrame(M.ROUND_ACK, m.roundAck, { round: 0, pages: 1, bytesReceived: 4096 });
    case M.READY:
      return encodeFrame(M.READY, m.ready, { digest });
    case M.RESUMED:
      return encodeFrame(M.RESUMED, m.resumed, { resumeMicros: 10, verifyMicros: 10 });
    case M.AUTH_CHALLENGE:
      return encodeFrame(M.AUTH_CHALLENGE, m.authChallenge, {
        nonce: rng.bytes(limits.AUTH_NONCE_BYTES),
        mac: rng.bytes(limits.AUTH_MAC_BYTES),
      });
    case M.PAGE_REQUEST:
      return encodeFrame(M.PAGE_REQUEST, m.pageRequest, { region: 0, page: 0, count: 1 });
    case M.POSTCOPY_DONE:
      return encodeFrame(M.POSTCOPY_DONE, m.postcopyDone, { digest });
    case M.RECOVER_END:
      return encodeFrame(M.RECOVER_END, m.recoverEnd, { missingPages: 8 });
    default:
      return rawFrame(type, rng.bytes(rng.int(0, 64)));
  }
}

/** `frame` re-framed with its body cut to `keep` bytes (fewer than it has). */
export function truncatedFrame(frame: Buffer, keep: number): Buffer {
  const out = Buffer.from(frame.subarray(0, limits.FRAME_HEADER_BYTES + keep));
  out.writeUInt32LE(keep, 0);
  return out;
}
