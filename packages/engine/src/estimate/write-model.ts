/**
 * How many distinct pages a guest dirties in a given time, pure. A guest that writes `r` pages
 * per second at random within a working set of `W` pages has written
 * `W * (1 - exp(-r * t / W))` distinct pages after `t` seconds: the first writes land on clean
 * pages, later ones more and more on pages already dirty. Counting "pages found dirty per
 * second" over a long interval therefore understates the write rate, and `min(W, rate * t)`
 * (the classic pre-copy model) overstates what a short round leaves behind. The model is fitted
 * from a dirty-rate sample: the distinct pages of each short interval against the distinct
 * pages of all of them together.
 */
export interface WriteModel {
  /** Page writes per second (repeats included). */
  readonly writePagesPerSec: number;
  /** Pages the writes fall on; Infinity when the sample saw no page written twice. */
  readonly workingSetPages: number;
}

/**
 * Fits the model to a sample of `intervals` equal intervals of `intervalMs`, with on average
 * `perInterval` distinct pages each and `union` distinct pages over all of them. Writes that
 * never repeat (a union as large as the intervals' sum) fit an unbounded working set.
 */
export function fitWriteModel(s: { perInterval: number; union: number; intervals: number; intervalMs: number }): WriteModel {
  const k = s.intervals;
  if (!(s.perInterval > 0) || !(s.intervalMs > 0) || k < 1) return { writePagesPerSec: 0, workingSetPages: Math.max(s.union, 0) };
  const ratio = s.union / s.perInterval;
  const linear = { writePagesPerSec: (s.perInterval / s.intervalMs) * 1000, workingSetPages: Number.POSITIVE_INFINITY };
  if (k === 1 || ratio >= k - 0.02) return linear;
  // union / perInterval = (1 - q^k) / (1 - q) = 1 + q + ... + q^(k-1), with q = exp(-r Δ / W):
  // increasing in q, so bisect.
  const sum = (q: number): number => (1 - q ** k) / (1 - q);
  let lo = 0;
  let hi = 1 - 1e-12;
  if (ratio <= 1) return { writePagesPerSec: Number.POSITIVE_INFINITY, workingSetPages: s.union };
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (sum(mid) < ratio) lo = mid;
    else hi = mid;
  }
  const q = (lo + hi) / 2;
  const workingSetPages = s.perInterval / (1 - q);
  return { writePagesPerSec: (-workingSetPages * Math.log(q) * 1000) / s.intervalMs, workingSetPages };
}

/** Distinct pages written in `ms` milliseconds. */
export function distinctPagesWritten(m: WriteModel, ms: number): number {
  const writes = (m.writePagesPerSec * ms) / 1000;
  if (!Number.isFinite(m.workingSetPages)) return writes;
  if (!(m.workingSetPages > 0)) return 0;
  return m.workingSetPages * -Math.expm1(-writes / m.workingSetPages);
}
