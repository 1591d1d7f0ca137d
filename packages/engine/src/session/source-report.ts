import type { CodecStats } from '../codec/batch-encoder.ts';
import type * as msg from '../protocol/messages.ts';
import { toHex } from '../util/bytes.ts';
import type { FerryError } from '../errors.ts';
import type {
  DowntimeBreakdown,
  FailedMigrationReport,
  MigrationReport,
  PostcopyStats,
  RoundStats,
  VerificationOutcome,
} from './report.ts';
import type { PauseMark } from './source-context.ts';
import type { SourceContext } from './source-context.ts';
import type { SourcePhase } from './state-machine.ts';

/** What a completed migration's last phase measured; the rest of the report comes from the context. */
export interface SourceOutcome {
  readonly pause: PauseMark;
  /** When the guest ran on the destination (RESUMED received). */
  readonly resumedAt: number;
  /** When the migration ended: RESUMED after stop-and-copy, the last page confirmed in post-copy. */
  readonly doneAt: number;
  readonly downtime: DowntimeBreakdown;
  readonly resumed: msg.Resumed;
  readonly bytesSentDuringDowntime: number;
  readonly pagesSent: number;
  readonly rounds: readonly RoundStats[];
  readonly finalRoundPages: number;
  readonly deviceStateBytes: number;
  readonly digest: bigint;
  readonly verify: 'memory' | 'sent' | 'tracker';
  readonly verification: VerificationOutcome;
  readonly codecs: CodecStats;
  readonly postcopy?: PostcopyStats;
}

/** The report of a completed migration (one assembly for stop-and-copy and post-copy). */
export function sourceReport(ctx: SourceContext, out: SourceOutcome): MigrationReport {
  const downtimeMs = out.resumedAt - out.pause.pauseStart;
  const limitMs = ctx.o.maxDowntimeMs ?? 300;
  return {
    sessionId: Buffer.from(ctx.sessionId).toString('hex'),
    outcome: 'completed',
    totalMs: out.doneAt - ctx.startMs,
    downtimeMs,
    downtime: out.downtime,
    switchover: {
      reason: ctx.decision?.reason || (ctx.o.strategy === 'postcopy' ? 'strategy' : 'unknown'),
      predictedDowntimeMs: ctx.decision?.predictedDowntimeMs ?? null,
      limitMs,
      limitExceeded: downtimeMs > limitMs,
    },
    destination: { verifyMs: out.resumed.verifyMicros / 1000, resumeMs: out.resumed.resumeMicros / 1000 },
    bytesSent: ctx.transportBytes(),
    bytesSentDuringDowntime: out.bytesSentDuringDowntime,
    pagesSent: out.pagesSent,
    rounds: out.rounds,
    finalRoundPages: out.finalRoundPages,
    deviceStateBytes: out.deviceStateBytes,
    digest: toHex(out.digest),
    digestMatched: true,
    verify: out.verify,
    verification: out.verification,
    codecs: out.codecs,
    kernels: ctx.kernels!.name,
    ...(ctx.kernelsFallback !== undefined && { kernelsFallback: ctx.kernelsFallback }),
    memoryBytes: ctx.o.memory.totalBytes,
    strategy: ctx.o.strategy ?? 'precopy',
    negotiated: ctx.negotiated!,
    recoveries: ctx.recoveries,
    bytesPerSecond: [...ctx.bytesPerSecond],
    ...(out.postcopy && { postcopy: out.postcopy }),
  };
}

/**
 * Puts the partial report of a failed migration on its error (`error.report`), taken when the
 * failure was settled: `failedIn` is the phase it failed in, the rest what it had done by then.
 */
export function attachFailureReport(ctx: SourceContext, error: FerryError, failedIn: SourcePhase, guestResumed: boolean): void {
  const status = ctx.status();
  const report: FailedMigrationReport = {
    sessionId: Buffer.from(ctx.sessionId).toString('hex'),
    outcome: ctx.phase.is('outcome-unknown') ? 'outcome-unknown' : 'failed',
    failedIn,
    code: error.code,
    message: error.message,
    guestResumed,
    totalMs: status.elapsedMs,
    bytesSent: status.bytesSent,
    pagesSent: ctx.board.pagesSent,
    rounds: status.rounds,
    round: status.round,
    recoveries: ctx.recoveries,
    bytesPerSecond: [...ctx.bytesPerSecond],
    ...(ctx.kernels && { kernels: ctx.kernels.name }),
    ...(ctx.kernelsFallback !== undefined && { kernelsFallback: ctx.kernelsFallback }),
    memoryBytes: ctx.o.memory.totalBytes,
    strategy: ctx.o.strategy ?? 'precopy',
  };
  // Not enumerable: logging the error does not print every round.
  Object.defineProperty(error, 'report', { value: report, enumerable: false, configurable: true });
}
