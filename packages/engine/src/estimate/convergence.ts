/**
 * Whether pre-copy can still reach the downtime limit, pure: from the last two rounds (how long
 * each took, how many pages the guest dirtied meanwhile) it fits the write model
 * `D(t) = W * (1 - exp(-r t / W))` (a guest writing `r` pages a second within `W` pages) through
 * both points, then plays the rounds forward: each sends what the last left dirty, in time
 * `pages * msPerPage`, and leaves `D(time)` dirty. The dirty set falls to a floor where a round
 * leaves as much as it sent; if the downtime at that floor (or at the last round allowed) is
 * above the limit, more rounds cannot help, and the engine knows it after round 1 instead of
 * waiting for the stall to show (QEMU and the old policy waited three or more rounds).
 */
export interface RoundSample {
  /** The round's time, sync to sync. */
  readonly ms: number;
  /** Pages found dirty at the sync that ended it. */
  readonly dirtyPages: number;
}

export interface ConvergenceInputs {
  /** The last two rounds or more, oldest first. */
  readonly rounds: readonly RoundSample[];
  /** What one dirty page costs on the wire in the final round, ms. */
  readonly msPerPage: number;
  /** The downtime's part that does not depend on the pages (sync, device state, round trips, resume). */
  readonly fixedMs: number;
  readonly limitMs: number;
  /** Rounds still allowed before the final one. */
  readonly roundsLeft: number;
}

export interface ConvergenceProjection {
  /** Whether a round within `roundsLeft` is predicted to fit the limit. */
  readonly fits: boolean;
  /** Rounds until it fits (0: it fits now); undefined when it does not fit. */
  readonly rounds: number | undefined;
  /** The predicted downtime at the best round reachable, ms. */
  readonly bestMs: number;
  /** The fitted model: page writes per second and working set (Infinity: no repeat seen). */
  readonly writePagesPerSec: number;
  readonly workingSetPages: number;
}

/** Fits `W` and `r` through two (time, distinct pages) points; unbounded `W` when they show no saturation. */
export function fitTwoRounds(a: RoundSample, b: RoundSample): { writePagesPerSec: number; workingSetPages: number } {
  const [short, long] = a.ms <= b.ms ? [a, b] : [b, a];
  if (!(short.ms > 0) || !(long.ms > 0)) return { writePagesPerSec: 0, workingSetPages: 0 };
  const rateShort = short.dirtyPages / short.ms;
  const rateLong = long.dirtyPages / long.ms;
  // Saturation shows as a lower apparent rate over the longer round; none: writes do not repeat.
  if (long.ms - short.ms < 1e-6 || rateLong >= rateShort * 0.999 || long.dirtyPages <= short.dirtyPages) {
    return { writePagesPerSec: Math.max(rateShort, rateLong) * 1000, workingSetPages: Number.POSITIVE_INFINITY };
  }
  // For W just above the short round's pages the long one saturates at W (too few); as W grows
  // it tends to the linear count (too many): bisect on W, in log space.
  const ratio = long.ms / short.ms;
  const longFor = (w: number): number => w * -Math.expm1(ratio * Math.log1p(-short.dirtyPages / w));
  let lo = short.dirtyPages * (1 + 1e-9);
  let hi = Math.max(long.dirtyPages, short.dirtyPages) * 1e6;
  for (let i = 0; i < 200; i++) {
    const mid = Math.sqrt(lo * hi);
    if (longFor(mid) < long.dirtyPages) lo = mid;
    else hi = mid;
  }
  const w = Math.sqrt(lo * hi);
  const r = (-w * Math.log1p(-short.dirtyPages / w)) / short.ms;
  return { writePagesPerSec: r * 1000, workingSetPages: w };
}

/** Plays the rounds forward under the fitted model: does one fit the limit in time? */
export function projectConvergence(i: ConvergenceInputs): ConvergenceProjection {
  const n = i.rounds.length;
  const last = i.rounds[n - 1];
  const downtime = (pages: number): number => i.fixedMs + pages * i.msPerPage;
  if (!last) return { fits: false, rounds: undefined, bestMs: Number.POSITIVE_INFINITY, writePagesPerSec: 0, workingSetPages: 0 };
  if (downtime(last.dirtyPages) <= i.limitMs) {
    return { fits: true, rounds: 0, bestMs: downtime(last.dirtyPages), writePagesPerSec: Number.NaN, workingSetPages: Number.NaN };
  }
  if (n < 2 || !(i.msPerPage > 0)) {
    return { fits: true, rounds: undefined, bestMs: downtime(last.dirtyPages), writePagesPerSec: Number.NaN, workingSetPages: Number.NaN };
  }
  const m = fitTwoRounds(i.rounds[n - 2]!, last);
  const dirtied = (ms: number): number => {
    const writes = (m.writePagesPerSec * ms) / 1000;
    return Number.isFinite(m.workingSetPages) ? m.workingSetPages * -Math.expm1(-writes / m.workingSetPages) : writes;
  };
  let pages = last.dirtyPages;
  let best = downtime(pages);
  for (let round = 1; round <= Math.max(0, i.roundsLeft); round++) {
    const next = dirtied(pages * i.msPerPage);
    best = Math.min(best, downtime(next));
    if (downtime(next) <= i.limitMs) return { fits: true, rounds: round, bestMs: downtime(next), ...m };
    // At the floor (or growing): later rounds repeat this one.
    if (next >= pages * 0.999) break;
    pages = next;
  }
  return { fits: false, rounds: undefined, bestMs: best, ...m };
}
