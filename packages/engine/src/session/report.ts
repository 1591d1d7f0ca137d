import type { DowntimePrediction } from '../estimate/downtime.ts';
import type { CodecStats } from '../codec/batch-encoder.ts';
import type { SourcePhase } from './state-machine.ts';

declare module '../errors.ts' {
  interface FerryError {
    /**
     * Set on the error `migrate()` (and `MigrationHandle.result`) rejects with: what the
     * migration had done when it failed. Absent on every other error.
     */
    readonly report?: FailedMigrationReport;
  }
}

/** What one pre-copy round did. */
export interface RoundStats {
  readonly round: number;
  /** The round sent with the guest paused. */
  readonly final: boolean;
  /** Pages found dirty at the sync that began the round (round 0: every page). */
  readonly dirtyPages: number;
  /** Pages put on the wire (RAW and ZERO entries). */
  readonly pagesSent: number;
  /**
   * Pages of the round found all zero: sent as ZERO entries, or (round 0) left out because the
   * destination starts from zeroed memory. Round 0's are not among `pagesSent`.
   */
  readonly zeroPages: number;
  /** Frame bytes written for this round. */
  readonly bytesSent: number;
  readonly durationMs: number;
  /**
   * The link rate the next prediction uses: bytes that left the send queue during this round
   * over its duration. Rounds of under 1 MiB say little about the link and keep the previous
   * round's figure.
   */
  readonly bandwidthBytesPerSec: number;
  /**
   * The downtime predicted at the sync that started this round: what switching over instead
   * would have cost. For the final round, the prediction that triggered the switchover. Null
   * for round 0.
   */
  readonly predictedDowntimeMs: number | null;
  /** That prediction with its parts and the inputs that produced it (absent for round 0). */
  readonly prediction?: DowntimePrediction;
  /** Milliseconds since the migration started, at the end of the round. */
  readonly elapsedMs: number;
}

/**
 * Downtime split into its parts, each measured on the source's clock from the moment the
 * guest was asked to pause. The parts add up to `downtimeMs`.
 */
export interface DowntimeBreakdown {
  /** The control plane's `pause()` hook. */
  readonly pauseMs: number;
  /** Final dirty sync and sending the pages it found (post-copy: sending the map of missing pages instead). */
  readonly finalRoundMs: number;
  /** `saveDeviceState()` and sending the blob. */
  readonly deviceStateMs: number;
  /** Waiting for the digest of source memory, which runs off-thread alongside the final round. */
  readonly digestMs: number;
  /** From COMPLETE sent to RESUMED received: destination verifies, loads, commits and resumes. */
  readonly handoverMs: number;
}

/** What post-copy did after the guest resumed on the destination. */
export interface PostcopyStats {
  /** Why pre-copy handed over to post-copy: `strategy` for pure post-copy, else the policy's reason. */
  readonly reason: string;
  /** Pages the destination lacked when the guest resumed there. */
  readonly missingPages: number;
  readonly requests: number;
  /** Pages sent because the destination asked for them, and pushed in the background. */
  readonly requestedPages: number;
  readonly pushedPages: number;
  /** Requests that arrived for pages already on their way. */
  readonly lateRequests: number;
  /** From RESUMED to the destination confirming every page and the digest. */
  readonly durationMs: number;
  /** Times the connection broke and was recovered. */
  readonly recoveries: number;
}

/** What the verification checked and found. */
export interface VerificationOutcome {
  /** `memory`: all memory hashed while paused; `sent`: the pages as sent; `tracker`: as sent, the tracker cross-checked. */
  readonly mode: 'memory' | 'sent' | 'tracker';
  /** The tracker that ran (`write-barrier+kernel-write`: cross-checked). */
  readonly tracker: string;
  /** Pages the second tracker saw written that the first missed, all sent again before the resume. */
  readonly trackerMissedPages: number;
  /** Of those, the ones found at the pause (sent in the final round). */
  readonly missedAtPause: number;
  /** The audit of the frozen source after the resume; null when not run (`verify: 'memory'`, `audit: false`, post-copy). */
  readonly audit: AuditOutcome | null;
}

/** The source's frozen memory, hashed after the resume, against every page's hash as sent. */
export interface AuditOutcome {
  readonly checkedPages: number;
  /** Pages whose frozen content differs from what the destination got: writes no tracker saw. 0 when all is well. */
  readonly mismatchedPages: number;
  /** The first few of them. */
  readonly firstMismatches: readonly { readonly region: string; readonly page: number }[];
  readonly ms: number;
}

/** The decision that paused the guest, and whether the limit held. */
export interface SwitchoverOutcome {
  /**
   * `converged` or `nothing-left` (the prediction fit the limit); `wont-converge`, `no-progress`,
   * `fixed-above-limit`, `max-rounds` or `converge-timeout` (`onWontConverge: 'switchover'`, or
   * hybrid's move to post-copy); `strategy` (pure post-copy); or a custom policy's words.
   */
  readonly reason: string;
  /** The downtime predicted at the decision, ms; null for pure post-copy, which pauses at once. */
  readonly predictedDowntimeMs: number | null;
  /** `maxDowntimeMs`. */
  readonly limitMs: number;
  /** Whether the measured downtime (`downtimeMs`) was above the limit. */
  readonly limitExceeded: boolean;
}

/** What a migration ran under, for its report: the destination's terms and what it declined. */
export interface NegotiatedTerms {
  /** The protocol version both sides spoke. */
  readonly version: number;
  /** The largest frame body the destination took; every frame sent fit it. */
  readonly maxFrameBodyBytes: number;
  /** Features accepted, by name (PSK_AUTH, POSTCOPY, RESUMABLE, CHANNELS). */
  readonly features: readonly string[];
  /** Page encodings the destination decodes, by name (RAW, ZERO, LZ4, XBZRLE, DEDUP). */
  readonly encodings: readonly string[];
  /** What the source asked for and did without, and how it adapted ("POSTCOPY: hybrid runs as pre-copy"). */
  readonly declined: readonly string[];
}

export interface MigrationReport {
  readonly sessionId: string;
  readonly outcome: Extract<SourcePhase, 'completed'>;
  readonly totalMs: number;
  /** Pause requested on the source to RESUMED received from the destination. */
  readonly downtimeMs: number;
  readonly downtime: DowntimeBreakdown;
  /** Why and on what prediction the guest was paused, against the limit it was given. */
  readonly switchover: SwitchoverOutcome;
  /** What the destination said its own steps took: digest and device state load, resume hook. */
  readonly destination: { readonly verifyMs: number; readonly resumeMs: number };
  /** Every byte written to the connection, headers included. */
  readonly bytesSent: number;
  readonly bytesSentDuringDowntime: number;
  readonly pagesSent: number;
  readonly rounds: readonly RoundStats[];
  /** Pages sent while the guest was paused. */
  readonly finalRoundPages: number;
  readonly deviceStateBytes: number;
  /** The memory digest both sides computed, as 0x-prefixed hex. */
  readonly digest: string;
  readonly digestMatched: true;
  /** Pages and payload bytes per encoding, the XBZRLE cache counters, the LZ4 measurements. */
  readonly codecs: CodecStats;
  /** What the source's digest was computed from: its memory, or the pages as sent (`sent`, `tracker`). */
  readonly verify: 'memory' | 'sent' | 'tracker';
  /** What was verified, when, and what it found (docs/protocol.md §4). */
  readonly verification: VerificationOutcome;
  /** Which hashing kernels ran: the native addon or the TypeScript fallback. */
  readonly kernels: 'native' | 'js';
  /**
   * Set when the JavaScript kernels ran without the `kernels` option asking for them (the addon
   * did not load, or `FERRY_NO_NATIVE=1`): why, and what to install. Results are the same; page
   * hashing is slower.
   */
  readonly kernelsFallback?: string;
  readonly memoryBytes: number;
  /**
   * Bytes written in each whole second of the migration, in order: its achieved rate second by
   * second (a partial last second is left out).
   */
  readonly bytesPerSecond: readonly number[];
  /** Times the connection broke during pre-copy and was recovered (`precopyRecoveryMs`). */
  readonly recoveries: number;
  /** How the guest moved: pre-copy only, or handed over to post-copy (pure or hybrid). */
  readonly strategy: 'precopy' | 'postcopy' | 'hybrid';
  /**
   * The destination's terms (HELLO_ACCEPT): version, frame limit, features accepted, encodings
   * decoded, and what this migration did without (a hybrid that ran as pre-copy, say).
   */
  readonly negotiated: NegotiatedTerms;
  /** Set when the guest resumed before all its pages had arrived. */
  readonly postcopy?: PostcopyStats;
}

/** What a failed migration had done: the partial report on the error it rejected with (`error.report`). */
export interface FailedMigrationReport {
  readonly sessionId: string;
  /** `failed`: the guest runs on the source (unless `guestResumed` is false); `outcome-unknown`: it may run on the destination. */
  readonly outcome: Extract<SourcePhase, 'failed' | 'outcome-unknown'>;
  /** The phase the migration was in when it failed. */
  readonly failedIn: SourcePhase;
  /** The error's code and message, as on the error itself. */
  readonly code: string;
  readonly message: string;
  /** Whether the source guest runs (was never paused, or was resumed). */
  readonly guestResumed: boolean;
  readonly totalMs: number;
  /** Every byte written to the connections, headers included. */
  readonly bytesSent: number;
  /** Pages put on the wire in the rounds that ended. */
  readonly pagesSent: number;
  /** The rounds that ended. */
  readonly rounds: readonly RoundStats[];
  /** The round in progress when it failed (-1: none had begun). */
  readonly round: number;
  readonly recoveries: number;
  readonly bytesPerSecond: readonly number[];
  /** Which hashing kernels ran; absent when it failed before loading them. */
  readonly kernels?: 'native' | 'js';
  /** As `MigrationReport.kernelsFallback`. */
  readonly kernelsFallback?: string;
  readonly memoryBytes: number;
  readonly strategy: 'precopy' | 'postcopy' | 'hybrid';
}

/** How long post-copy guests waited for their pages. */
export interface FaultStats {
  /** Pages the guest waited for (each asked of the source once). */
  readonly faults: number;
  /** Time from a request to its page written, per fault, ms: median and 99th percentile. */
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}
