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
  // Every interval wrote every page of the set: as fast as "all of them each interval" (a
  // page left clean with chance 1e-6), finite so the model's arithmetic stays defined.
  if (ratio <= 1) return { writePagesPerSec: (s.union * Math.log(1e6) * 1000) / s.intervalMs, workingSetPages: s.union };
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

/**
 * Where pre-copy stands between rounds: for a bounded working set, each of `PROFILE_BINS`
 * stretches of it (in the order the sender walks memory) with the chance that a page there is
 * dirty; for an unbounded one, the count of dirty pages.
 */
export type DirtyProfile = Float64Array | number;

const PROFILE_BINS = 64;
/** A round whose time keeps growing with what it sends (writes outpace the link) stops here. */
const MAX_ROUND_MS = 3_600_000;

/** The chance a page escapes writes for `share` of a round at `a` writes per page per round (1 for no time at all). */
function untouched(a: number, share: number): number {
  return share <= 0 ? 1 : Math.exp(-a * share);
}

export interface RoundPrediction {
  /** Pages the round sends: those dirty at its start, and those written ahead of the sender meanwhile. */
  readonly sentPages: number;
  readonly ms: number;
  /** Pages dirty at the sync that ends the round: written behind the sender. */
  readonly dirtyPages: number;
  readonly profile: DirtyProfile;
}

/**
 * One pre-copy round under the write model. The sender walks memory once per round; a page's
 * dirty bit is taken `lead` of the round ahead of the sender (0: as it goes, which
 * `DirtyTracker.syncRange` approaches; 1: all at the round's start, trackers without it).
 * A page written after its bit was taken waits for the next round; one written before goes in
 * this one, with its newest content. So a page at fraction x of the walk is sent if it was
 * dirty at the start or written in the first (x - lead) of the round, and is dirty at the end
 * if written in the last (1 - x + lead). `profile` null is round 0, which sends
 * `firstRoundPages` whatever was written. `msPerPage`: the link's (or compressor's) time per page.
 */
export function predictRound(
  m: WriteModel,
  o: { profile: DirtyProfile | null; firstRoundPages: number; msPerPage: number; lead: number },
): RoundPrediction {
  const lead = Math.min(Math.max(o.lead, 0), 1);
  const perMs = m.writePagesPerSec / 1000;
  if (!(perMs > 0) || !(m.workingSetPages > 0)) {
    // Nothing written: round 0 sends what it must, later rounds nothing.
    const sentPages = o.profile === null ? o.firstRoundPages : 0;
    return { sentPages, ms: sentPages * o.msPerPage, dirtyPages: 0, profile: 0 };
  }
  if (!Number.isFinite(m.workingSetPages)) {
    // Writes that did not repeat within the sample: a sweep, most likely, whose position the
    // sender's cursor does not outrun in general, so every write waits for the next round
    // (as with bits taken at the round's start). Rounds grow without bound once the writes
    // outpace the link.
    const start = typeof o.profile === 'number' ? o.profile : 0;
    const ms = o.profile === null ? o.firstRoundPages * o.msPerPage : Math.min(MAX_ROUND_MS, start * o.msPerPage);
    const sentPages = o.profile === null ? o.firstRoundPages : ms / o.msPerPage;
    const dirtyPages = perMs * ms;
    return { sentPages, ms, dirtyPages, profile: dirtyPages };
  }
  const w = m.workingSetPages;
  const binPages = w / PROFILE_BINS;
  const before = o.profile instanceof Float64Array ? o.profile : undefined;
  const x = (b: number): number => (b + 0.5) / PROFILE_BINS;
  const sentFor = (ms: number): number => {
    if (!before) return o.firstRoundPages;
    const a = (perMs * ms) / w;
    let sent = 0;
    for (let b = 0; b < PROFILE_BINS; b++) sent += binPages * (1 - (1 - before[b]!) * untouched(a, x(b) - lead));
    return sent;
  };
  // The round's time depends on what it sends, which depends on its time: iterate to the fixed point.
  let ms = before ? before.reduce((n, d) => n + d * binPages, 0) * o.msPerPage : o.firstRoundPages * o.msPerPage;
  let sentPages = sentFor(ms);
  for (let i = 0; i < 30 && before; i++) {
    const next = Math.min(MAX_ROUND_MS, sentPages * o.msPerPage);
    if (Math.abs(next - ms) < 1e-6 * Math.max(ms, 1)) break;
    ms = next;
    sentPages = sentFor(ms);
  }
  const a = (perMs * ms) / w;
  const profile = new Float64Array(PROFILE_BINS);
  let dirtyPages = 0;
  for (let b = 0; b < PROFILE_BINS; b++) {
    profile[b] = 1 - untouched(a, Math.min(1, 1 - x(b) + lead));
    dirtyPages += profile[b]! * binPages;
  }
  return { sentPages, ms, dirtyPages, profile };
}
