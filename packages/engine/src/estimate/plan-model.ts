/**
 * What each strategy would do, predicted before a migration starts: the iterative pre-copy
 * model (each round sends the pages the guest wrote during the previous one, `predictRound`:
 * writes that repeat within the working set counted once, and dirty bits taken just before sending)
 * and its post-copy and hybrid variants. Pure, with every input
 * measured by `plan()`, so the planner, its tests and the benchmarks compute a plan one way.
 */

import { predictDowntimeMs, switchoverCostMs, switchoverCosts } from './downtime.ts';
import { type DirtyProfile, predictRound } from './write-model.ts';

export type PlannedStrategy = 'precopy' | 'precopy-lz4' | 'postcopy' | 'hybrid';

export interface PlanInputs {
  readonly pageSize: number;
  readonly totalPages: number;
  /** Fraction of pages that are not all zero (round 0 skips the zero ones). */
  readonly nonZeroFraction: number;
  /** Page writes per second, repeats included (`fitWriteModel` gets it from a dirty-rate sample). */
  readonly dirtyPagesPerSec: number;
  /** Distinct pages the guest writes (its writable working set): no round dirties more. Infinity: not seen to repeat. */
  readonly workingSetPages: number;
  /**
   * How far ahead of the sender pre-copy takes dirty bits, as a fraction of a round (see
   * `predictRound`): 1 (the default) for a tracker without `syncRange`, which takes them all at
   * the round's start; near 0 for one with it.
   */
  readonly takeLead?: number;
  /** The link's measured rate, already capped by `maxBandwidth`. */
  readonly bandwidthBytesPerSec: number;
  /**
   * The rate of the stop-and-copy, when it differs: uncapped, the link's rate without the CPU
   * the running guest takes (the guest is paused then), as the engine's own prediction uses.
   * Default `bandwidthBytesPerSec`.
   */
  readonly switchoverBandwidthBytesPerSec?: number;
  readonly rttMs: number;
  /** What every migration spends before moving memory: connecting, the handshake. Default 0. */
  readonly setupMs?: number;
  /** What pre-copy (and hybrid) spends on top, timing round trips with ECHO. Default 0. */
  readonly echoMs?: number;
  readonly deviceStateBytes: number;
  /** The source's memory pass at switchover (`verify: 'memory'`), measured; 0 with `verify: 'sent'`. */
  readonly verifyMs: number;
  /** LZ4 output over input on sampled non-zero pages, and LZ4's measured speed (input bytes/s). */
  readonly lz4Ratio: number;
  readonly lz4BytesPerSec: number;
  readonly maxDowntimeMs: number;
  readonly maxRounds: number;
}

export interface StrategyPrediction {
  readonly strategy: PlannedStrategy;
  /** Whether it moves the guest within `maxDowntimeMs` (post-copy always does; its cost is elsewhere). */
  readonly converges: boolean;
  readonly downtimeMs: number;
  readonly totalMs: number;
  readonly bytes: number;
  readonly rounds: number;
  /** For post-copy and hybrid: pages the guest may have to wait for after resuming. */
  readonly pagesAfterResume: number;
  readonly reason: string;
}

const ENTRY_BYTES = 20;
/** Rounds without a new low in the dirty set before pre-copy counts as stalled (as `policies.stall`). */
const STALL_ROUNDS = 3;

interface Link {
  /** Wire bytes per non-zero page. */
  readonly bytesPerPage: number;
  /** Pages per second the link (and, compressed, the compressor) can carry. */
  readonly pagesPerSec: number;
}

function link(i: PlanInputs, lz4: boolean): Link {
  if (!lz4) return { bytesPerPage: i.pageSize + ENTRY_BYTES, pagesPerSec: i.bandwidthBytesPerSec / (i.pageSize + ENTRY_BYTES) };
  const bytesPerPage = i.pageSize * i.lz4Ratio + ENTRY_BYTES + 4;
  const pagesPerSec = Math.min(i.bandwidthBytesPerSec / bytesPerPage, i.lz4BytesPerSec / i.pageSize);
  return { bytesPerPage, pagesPerSec };
}

/** The fixed part of every switchover, as the engine computes it (no sync cost known before starting). */
function fixedMs(i: PlanInputs): number {
  return switchoverCostMs(
    switchoverCosts({
      syncMs: 0,
      digestMs: i.verifyMs,
      rttMs: i.rttMs,
      deviceStateBytes: i.deviceStateBytes,
      bandwidthBytesPerSec: i.bandwidthBytesPerSec,
    }),
  );
}

/** Stop-and-copy cost of `pages` pages, in ms: the engine's downtime prediction at this link's page rate. */
function stopAndCopyMs(i: PlanInputs, l: Link, pages: number): number {
  const faster = Math.max(1, (i.switchoverBandwidthBytesPerSec ?? i.bandwidthBytesPerSec) / i.bandwidthBytesPerSec);
  return predictDowntimeMs({
    dirtyPages: pages,
    bytesPerPage: l.bytesPerPage,
    bandwidthBytesPerSec: l.pagesPerSec * l.bytesPerPage * faster,
    fixedCostMs: fixedMs(i),
  });
}

interface Precopy {
  readonly converged: boolean;
  readonly stalled: boolean;
  readonly rounds: number;
  readonly elapsedMs: number;
  readonly pagesSent: number;
  /** Dirty pages when pre-copy stopped. */
  readonly remaining: number;
}

/**
 * Rounds the stall policy waits on a flat dirty set beyond the three it asks for: measured
 * counts scatter, and a new low among them comes often enough that three syncs in a row
 * without one take 6.3 syncs on average (a Monte Carlo of independent values), not the 4 an
 * exactly flat model sequence would take.
 */
const NOISE_ROUNDS = 2;

/** `policies.stall` on the model's sequence, with 1% for a new low to count, and the rounds noise adds. */
function modelStalled(history: readonly number[]): boolean {
  const n = STALL_ROUNDS + NOISE_ROUNDS;
  if (history.length <= n) return false;
  return Math.min(...history.slice(-n)) >= 0.99 * Math.min(...history.slice(0, -n));
}

function iterate(i: PlanInputs, l: Link): Precopy {
  const model = { writePagesPerSec: i.dirtyPagesPerSec, workingSetPages: i.workingSetPages };
  let profile: DirtyProfile | null = null;
  let elapsedMs = 0;
  let pagesSent = 0;
  let rounds = 0;
  const history: number[] = [];
  for (;;) {
    const round = predictRound(model, {
      profile,
      firstRoundPages: i.totalPages * i.nonZeroFraction,
      msPerPage: 1000 / l.pagesPerSec,
      lead: i.takeLead ?? 1,
    });
    elapsedMs += round.ms;
    pagesSent += Math.min(i.totalPages, round.sentPages);
    rounds++;
    const dirtied = Math.min(i.totalPages, round.dirtyPages);
    history.push(dirtied);
    if (stopAndCopyMs(i, l, dirtied) <= i.maxDowntimeMs || dirtied < 1) {
      return { converged: true, stalled: false, rounds, elapsedMs, pagesSent, remaining: dirtied };
    }
    const stalled = modelStalled(history);
    if (stalled || rounds >= i.maxRounds) return { converged: false, stalled, rounds, elapsedMs, pagesSent, remaining: dirtied };
    // Never more than all of memory to send again (an unbounded working set counts pages).
    profile = typeof round.profile === 'number' ? Math.min(i.totalPages, round.profile) : round.profile;
  }
}

function precopy(i: PlanInputs, lz4: boolean): StrategyPrediction {
  const l = link(i, lz4);
  const p = iterate(i, l);
  const downtimeMs = stopAndCopyMs(i, l, p.remaining);
  const strategy = lz4 ? 'precopy-lz4' : 'precopy';
  return {
    strategy,
    converges: p.converged,
    downtimeMs,
    totalMs: (i.setupMs ?? 0) + (i.echoMs ?? 0) + p.elapsedMs + downtimeMs,
    bytes: (p.pagesSent + p.remaining) * l.bytesPerPage + i.deviceStateBytes,
    rounds: p.rounds + 1,
    pagesAfterResume: 0,
    reason: p.converged
      ? `converges after ${p.rounds} rounds`
      : `does not converge: ${p.stalled ? 'the dirty set stops shrinking' : `still ${Math.round(p.remaining)} dirty pages after ${p.rounds} rounds`}, so the final stop-and-copy takes ${Math.round(downtimeMs)} ms`,
  };
}

/** Post-copy's downtime: pause, a tiny map, the device state, two round trips (no digest). Independent of memory size. */
function postcopyDowntimeMs(i: PlanInputs): number {
  return fixedMs({ ...i, verifyMs: 0 });
}

function postcopy(i: PlanInputs): StrategyPrediction {
  const l = link(i, false);
  const nonZero = i.totalPages * i.nonZeroFraction;
  const zero = i.totalPages - nonZero;
  const downtimeMs = postcopyDowntimeMs(i);
  const bytes = nonZero * l.bytesPerPage + zero * ENTRY_BYTES + i.deviceStateBytes;
  return {
    strategy: 'postcopy',
    converges: true,
    downtimeMs,
    totalMs: (i.setupMs ?? 0) + downtimeMs + (bytes / i.bandwidthBytesPerSec) * 1000,
    bytes,
    rounds: 0,
    pagesAfterResume: i.totalPages,
    reason: 'resumes at once; every page the guest touches before it arrives costs a round trip',
  };
}

function hybrid(i: PlanInputs): StrategyPrediction {
  const l = link(i, false);
  const p = iterate(i, l);
  if (p.converged) {
    const downtimeMs = stopAndCopyMs(i, l, p.remaining);
    return {
      ...precopy(i, false),
      strategy: 'hybrid',
      reason: `pre-copy converges after ${p.rounds} rounds; no post-copy needed`,
      downtimeMs,
    };
  }
  const downtimeMs = postcopyDowntimeMs(i);
  const afterMs = (p.remaining / l.pagesPerSec) * 1000;
  return {
    strategy: 'hybrid',
    converges: true,
    downtimeMs,
    totalMs: (i.setupMs ?? 0) + (i.echoMs ?? 0) + p.elapsedMs + downtimeMs + afterMs,
    bytes: (p.pagesSent + p.remaining) * l.bytesPerPage + i.deviceStateBytes,
    rounds: p.rounds,
    pagesAfterResume: Math.round(p.remaining),
    reason: `pre-copy for ${p.rounds} rounds, then post-copy for the last ${Math.round(p.remaining)} pages`,
  };
}

/** Every strategy's prediction for `i`. */
export function predictStrategies(i: PlanInputs): StrategyPrediction[] {
  if (!(i.bandwidthBytesPerSec > 0)) throw new RangeError('bandwidth must be positive');
  return [precopy(i, false), precopy(i, true), postcopy(i), hybrid(i)];
}

/**
 * The recommendation: pre-copy when it converges (the guest's state is never split between
 * hosts), with LZ4 when that is clearly faster (under 0.8 of the time) or the only way to
 * converge; else hybrid, which pre-copies what it can and post-copies the rest; pure post-copy
 * when even the first round cannot finish in reasonable time (hybrid would only add rounds).
 */
export function recommend(predictions: readonly StrategyPrediction[]): { strategy: PlannedStrategy; reasons: string[] } {
  const by = (s: PlannedStrategy): StrategyPrediction => predictions.find((p) => p.strategy === s)!;
  const pre = by('precopy');
  const lz4 = by('precopy-lz4');
  const reasons: string[] = [];
  if (pre.converges && !(lz4.converges && lz4.totalMs < 0.8 * pre.totalMs)) {
    reasons.push(
      `pre-copy converges (${Math.round(pre.downtimeMs)} ms downtime, ${Math.round(pre.totalMs)} ms total); the guest is never split between hosts`,
    );
    return { strategy: 'precopy', reasons };
  }
  if (lz4.converges) {
    reasons.push(
      pre.converges
        ? `LZ4 takes ${Math.round(lz4.totalMs)} ms against ${Math.round(pre.totalMs)} ms without`
        : `only with LZ4 does pre-copy converge (${Math.round(lz4.downtimeMs)} ms downtime)`,
    );
    return { strategy: 'precopy-lz4', reasons };
  }
  reasons.push(`pre-copy ${pre.reason}`);
  const hyb = by('hybrid');
  const post = by('postcopy');
  if (hyb.pagesAfterResume < post.pagesAfterResume / 2) {
    reasons.push(`hybrid leaves ${hyb.pagesAfterResume} pages for after the resume, pure post-copy all ${post.pagesAfterResume}`);
    return { strategy: 'hybrid', reasons };
  }
  reasons.push('pre-copy rounds would hardly shrink what post-copy must fetch: post-copy at once');
  return { strategy: 'postcopy', reasons };
}
