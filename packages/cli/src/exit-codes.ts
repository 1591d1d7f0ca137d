import { ErrorCode, type FerryError } from '@ferry/engine';

/**
 * What `ferry` exits with. Stable: scripts test them. Documented in packages/cli/README.md.
 */
export const ExitCode = {
  /** Done: migrated, listened and received, probed and accepted, planned. */
  OK: 0,
  /** The migration failed before COMMIT: the guest runs on at the source. */
  FAILED: 1,
  /** Bad usage: an unknown command or option, a value out of range, a missing key file. */
  USAGE: 2,
  /** The destination refused: the guest, the key, the version (probe: not accepted). */
  REFUSED: 3,
  /** The destination could not be reached. */
  UNREACHABLE: 4,
  /** After COMMIT: the destination may run the guest (or runs it without every page); the source guest stays paused. Decide before resuming it. */
  OUTCOME_UNKNOWN: 5,
  /** Cancelled by SIGINT or SIGTERM before COMMIT: the guest runs on at the source. */
  CANCELLED: 130,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

const REFUSALS = new Set<string>([
  ErrorCode.VERSION_UNSUPPORTED,
  ErrorCode.INCOMPATIBLE_GUEST,
  ErrorCode.REJECTED,
  ErrorCode.AUTH_REQUIRED,
  ErrorCode.AUTH_FAILED,
]);

/** The exit code for an error a command ended with. */
export function exitCodeOf(error: FerryError): ExitCode {
  switch (error.code) {
    case ErrorCode.INVALID_ARGUMENT:
    case ErrorCode.INSECURE:
      return ExitCode.USAGE;
    case ErrorCode.CONNECT_FAILED:
      return ExitCode.UNREACHABLE;
    case ErrorCode.OUTCOME_UNKNOWN:
    case ErrorCode.POSTCOPY_INTERRUPTED:
      return ExitCode.OUTCOME_UNKNOWN;
    case ErrorCode.ABORTED:
      return ExitCode.CANCELLED;
    default:
      if (REFUSALS.has(error.code)) return ExitCode.REFUSED;
      // A peer that reported a refusal of its own.
      if ('remoteCode' in error && REFUSALS.has(String((error as { remoteCode: unknown }).remoteCode))) return ExitCode.REFUSED;
      return ExitCode.FAILED;
  }
}
