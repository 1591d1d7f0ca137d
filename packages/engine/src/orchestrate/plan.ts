/** `plan()`: what each strategy would cost this guest on this link, measured before anything moves. */
import { loadKernels } from '../accel/index.ts';
import type { Kernels } from '../accel/kernels.ts';
import { lz4CompressPage } from '../codec/lz4.ts';
import { type DirtyRateSample, measureDirtyRate } from '../dirty/dirty-rate.ts';
import { fitWriteModel } from '../estimate/write-model.ts';
import { TAKE_WINDOW_PAGES } from '../precopy/round-sender.ts';
import { ECHO_SCHEDULE } from '../session/connector.ts';
import { checkPlanOptions } from '../session/option-checks.ts';
import type { PlanOptions } from '../session/plan-options.ts';
import { type ErrorCode, HandshakeError } from '../errors.ts';
import { type PlanInputs, type PlannedStrategy, predictStrategies, recommend, type StrategyPrediction } from '../estimate/plan-model.ts';
import { memoryDigestAsync } from '../memory/digest.ts';
import { samplePages } from '../memory/page-sample.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import { probe } from '../session/probe.ts';

export type { PlanOptions } from '../session/plan-options.ts';

/** The `migrate()` options a plan recommends: spread them into `MigrateOptions`. */
export interface RecommendedOptions {
  readonly strategy: 'precopy' | 'postcopy' | 'hybrid';
  /** `lz4` when pre-copy is clearly faster, or only converges, with it; else `off`. */
  readonly compression: 'off' | 'lz4';
}

export interface MigrationPlan {
  /** The inputs every prediction came from, each measured here (or given). */
  readonly inputs: PlanInputs;
  readonly dirtyRate: DirtyRateSample;
  /** Each strategy's prediction; `precopy-lz4` is pre-copy with `compression: 'lz4'`. */
  readonly strategies: readonly StrategyPrediction[];
  /** The recommended `strategy`: a value `migrate()` takes (with `options.compression`). */
  readonly recommended: RecommendedOptions['strategy'];
  /** The recommended options, for `migrate({ ...options, ...plan.options })`. */
  readonly options: RecommendedOptions;
  /** Which prediction of `strategies` the recommendation is. */
  readonly recommendedPrediction: PlannedStrategy;
  readonly reasons: readonly string[];
}

/** Pages sampled for zero pages and LZ4's ratio and speed. */
const SAMPLE_PAGES = 1024;

/**
 * Before migrating: asks the destination whether it takes the guest, measures the link to it,
 * samples the guest's dirty rate and working set, its zero pages and how well it compresses,
 * and the memory pass of `verify: 'memory'`; then predicts downtime, total time and bytes for
 * pre-copy, pre-copy with LZ4, post-copy and hybrid, says which converge under the limits, and
 * recommends one with its reasons. Moves no guest memory. A destination that refuses throws a
 * `HandshakeError` with its code.
 */
export async function plan(o: PlanOptions): Promise<MigrationPlan> {
  checkPlanOptions(o);
  const kernels = o.kernels ?? (await loadKernels());
  const memory = o.memory;
  const answer = await probe({
    host: o.host,
    port: o.port,
    layout: memory.layout,
    measureBytes: o.bandwidthBytesPerSec ? 0 : (o.probeBytes ?? 64 * 2 ** 20),
    ...(o.psk !== undefined && { psk: o.psk }),
    ...(o.tls !== undefined && { tls: o.tls }),
    ...(o.insecure !== undefined && { insecure: o.insecure }),
  });
  if (!answer.accepted) throw new HandshakeError(answer.code as ErrorCode, `destination would refuse the guest: ${answer.reason}`);
  const measured = o.bandwidthBytesPerSec ?? answer.bandwidthBytesPerSec ?? 0;
  const bandwidth = o.maxBandwidth ? Math.min(measured, o.maxBandwidth) : measured;

  const dirtyRate = await measureDirtyRate({ tracker: o.tracker, layout: memory.layout, durationMs: o.sampleMs ?? 1000 });
  const intervals = dirtyRate.intervalsPagesPerSec.length;
  const intervalMs = dirtyRate.durationMs / Math.max(intervals, 1);
  const writes = fitWriteModel({
    perInterval: (dirtyRate.dirtyPagesPerSec * dirtyRate.durationMs) / 1000 / Math.max(intervals, 1),
    union: dirtyRate.workingSetPages,
    intervals,
    intervalMs,
  });
  const sample = sampleCodecs(memory, kernels);
  let verifyMs = 0;
  if (o.verify === 'memory') {
    const start = performance.now();
    await memoryDigestAsync(memory, kernels);
    verifyMs = performance.now() - start;
  }
  const inputs: PlanInputs = {
    pageSize: memory.pageSize,
    totalPages: memory.totalPages,
    nonZeroFraction: sample.nonZeroFraction,
    dirtyPagesPerSec: writes.writePagesPerSec,
    workingSetPages: writes.workingSetPages,
    // Bits are taken a window ahead of the sender: half a window on average, as a fraction of the walk.
    takeLead: o.tracker.syncRange ? Math.min(1, TAKE_WINDOW_PAGES / 2 / memory.totalPages) : 1,
    bandwidthBytesPerSec: bandwidth,
    // Uncapped, the paused guest's core goes to the sender: the engine predicts the final round so.
    ...(!o.maxBandwidth &&
      !o.bandwidthBytesPerSec &&
      answer.uncontendedBandwidthBytesPerSec !== undefined && {
        switchoverBandwidthBytesPerSec: Math.max(bandwidth, answer.uncontendedBandwidthBytesPerSec),
      }),
    rttMs: answer.rttMs,
    // Connect and HELLO (the probe's round trip covers both); pre-copy then runs the ECHO
    // schedule: its silences and one round trip per exchange.
    setupMs: 2 * answer.rttMs,
    echoMs: ECHO_SCHEDULE.cold * ECHO_SCHEDULE.idleMs + (ECHO_SCHEDULE.warm + ECHO_SCHEDULE.cold) * answer.rttMs,
    deviceStateBytes: o.deviceStateBytes ?? 64 * 1024,
    verifyMs,
    lz4Ratio: sample.lz4Ratio,
    lz4BytesPerSec: sample.lz4BytesPerSec,
    maxDowntimeMs: o.maxDowntimeMs ?? 300,
    maxRounds: o.maxRounds ?? 30,
  };
  const strategies = predictStrategies(inputs);
  const { strategy, reasons } = recommend(strategies);
  const options = recommendedOptions(strategy);
  return { inputs, dirtyRate, strategies, recommended: options.strategy, options, recommendedPrediction: strategy, reasons };
}

/** The model's label as options `migrate()` takes: `precopy-lz4` is pre-copy with LZ4. */
export function recommendedOptions(planned: PlannedStrategy): RecommendedOptions {
  return planned === 'precopy-lz4' ? { strategy: 'precopy', compression: 'lz4' } : { strategy: planned, compression: 'off' };
}

/** Zero pages among evenly spread sample pages, and LZ4's ratio and speed on the others. */
function sampleCodecs(memory: GuestMemory, kernels: Kernels): { nonZeroFraction: number; lz4Ratio: number; lz4BytesPerSec: number } {
  const ps = memory.pageSize;
  let sampled = 0;
  let zero = 0;
  let lz4In = 0;
  let lz4Out = 0;
  let lz4Ms = 0;
  samplePages(memory, kernels, SAMPLE_PAGES, (bytes, isZero) => {
    sampled++;
    if (isZero) {
      zero++;
      return;
    }
    const start = performance.now();
    const out = lz4CompressPage(bytes);
    lz4Ms += performance.now() - start;
    lz4In += ps;
    lz4Out += Math.min(out.byteLength, ps);
  });
  return {
    nonZeroFraction: sampled ? (sampled - zero) / sampled : 1,
    lz4Ratio: lz4In ? lz4Out / lz4In : 1,
    lz4BytesPerSec: lz4Ms > 0 ? (lz4In / lz4Ms) * 1000 : Number.POSITIVE_INFINITY,
  };
}
