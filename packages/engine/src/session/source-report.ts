import type { CodecStats } from '../codec/batch-encoder.ts';
import type * as msg from '../protocol/messages.ts';
import { toHex } from '../util/bytes.ts';
import type { DowntimeBreakdown, MigrationReport, PostcopyStats, RoundStats, VerificationOutcome } from './report.ts';
import type { PauseMark } from './source-context.ts';
import type { SourceContext } from './source-context.ts';

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
    memoryBytes: ctx.o.memory.totalBytes,
    strategy: ctx.o.strategy ?? 'precopy',
    recoveries: ctx.recoveries,
    bytesPerSecond: [...ctx.bytesPerSecond],
    ...(out.postcopy && { postcopy: out.postcopy }),
  };
}
