import type { AuditOutcome } from './report.ts';
import type { DowntimePrediction } from '../estimate/downtime.ts';
import type { FerryError } from '../errors.ts';
import type { MigrationReport, RoundStats } from './report.ts';
import type { DestinationPhase, SourcePhase } from './state-machine.ts';

/** Progress of a migration on the source, as typed events. */
export type MigrationEvent =
  | { readonly type: 'phase'; readonly from: SourcePhase; readonly to: SourcePhase }
  | { readonly type: 'round-start'; readonly round: number; readonly dirtyPages: number; readonly final: boolean }
  | {
      readonly type: 'progress';
      readonly round: number;
      /** Pages of this round sent so far, and the round's total. */
      readonly pagesSent: number;
      readonly roundPages: number;
      /** Bytes of this round so far. */
      readonly bytesSent: number;
      /** Bytes written since the migration began: never goes down. */
      readonly totalBytesSent: number;
      readonly bandwidthBytesPerSec: number;
      /** The guest's dirty rate as the last sync measured it (0 before the first). */
      readonly dirtyPagesPerSec: number;
      /**
       * Bytes this round still has to send, at its bytes per page so far: an estimate (round 0
       * skips zero pages, and pages written ahead of the sender join the round as it goes).
       */
      readonly roundRemainingBytes: number;
      /** Time left in this round at the current rate; the whole migration needs the rounds the policy decides. */
      readonly roundEtaMs: number;
    }
  | { readonly type: 'round-end'; readonly stats: RoundStats }
  | {
      readonly type: 'switchover';
      /** The number of the final round, sent with the guest paused. */
      readonly round: number;
      /** Why: `converged`, `nothing-left`, `no-progress`, `max-rounds`, or a custom policy's words. */
      readonly reason: string;
      readonly remainingPages: number;
      readonly predictedDowntimeMs: number;
      /** The prediction behind the decision, with its parts and inputs (absent for post-copy, which has no final round). */
      readonly prediction?: DowntimePrediction;
    }
  /** The native addon did not load, so the JavaScript kernels run (same results, slower hashing); `reason` says why and what to install. */
  | { readonly type: 'kernels-fallback'; readonly reason: string }
  | { readonly type: 'throttle'; readonly percent: number; readonly reason: string }
  /** The frozen source, audited after the resume (`mismatchedPages` above 0: writes no tracker saw). */
  | ({ readonly type: 'audit' } & AuditOutcome)
  /** The connection broke; reconnecting (`attempt` from 1) until the recovery timeout of that phase. */
  | { readonly type: 'reconnecting'; readonly phase: 'precopy' | 'postcopy'; readonly attempt: number; readonly reason: string }
  /** Reconnected; the destination lacks `missingPages` pages, which go again. */
  | { readonly type: 'recovered'; readonly phase: 'precopy' | 'postcopy'; readonly missingPages: number }
  | { readonly type: 'completed'; readonly report: MigrationReport }
  | { readonly type: 'failed'; readonly error: FerryError; readonly guestResumed: boolean };

/** What happens on the destination, as typed events. */
export type DestinationEvent =
  | { readonly type: 'connection'; readonly remote: string }
  /** The native addon did not load, so this destination hashes with the JavaScript kernels; `reason` says why and what to install. */
  | { readonly type: 'kernels-fallback'; readonly reason: string }
  | { readonly type: 'rejected'; readonly remote: string; readonly code: string; readonly reason: string }
  | { readonly type: 'probe'; readonly remote: string; readonly accepted: boolean }
  | { readonly type: 'phase'; readonly from: DestinationPhase; readonly to: DestinationPhase }
  | { readonly type: 'round-end'; readonly round: number; readonly pages: number; readonly bytesReceived: number }
  | { readonly type: 'resumed'; readonly verifyMs: number; readonly resumeMs: number }
  /** The connection broke; waiting for the source to reconnect (in post-copy the guest runs on meanwhile). */
  | { readonly type: 'interrupted'; readonly phase: 'precopy' | 'postcopy'; readonly reason: string; readonly recoveryTimeoutMs: number }
  | { readonly type: 'recovered'; readonly phase: 'precopy' | 'postcopy'; readonly missingPages: number }
  | { readonly type: 'failed'; readonly error: FerryError };
