/**
 * Whether compressing a batch with LZ4 shortens the time to deliver it, from measured figures
 * only. One thread prepares batches and the link carries them, so time adds up per byte:
 * raw costs 1/link, LZ4 costs 1/lz4 (compressing) + ratio/link (sending what is left). LZ4
 * pays when 1/lz4 + ratio/link < 1/link, i.e. when the link is slow next to the compressor
 * and the data compresses. Pure, so benchmarks and tests use the same rule.
 */
export interface CodecMeasurements {
  /** Input bytes LZ4 compresses per second here (smoothed). */
  readonly lz4BytesPerSec: number;
  /** Compressed over input bytes for recent pages (smoothed), 0..1+. */
  readonly lz4Ratio: number;
  /** Bytes per second the link carries. */
  readonly linkBytesPerSec: number;
}

export function lz4Pays(m: CodecMeasurements): boolean {
  if (!(m.lz4BytesPerSec > 0) || !(m.linkBytesPerSec > 0) || !(m.lz4Ratio < 1)) return false;
  return 1 / m.lz4BytesPerSec + m.lz4Ratio / m.linkBytesPerSec < 1 / m.linkBytesPerSec;
}

/** Exponentially weighted moving average; the first sample sets it. */
export function ewma(previous: number, sample: number, weight: number = 0.3): number {
  return Number.isFinite(previous) && previous > 0 ? previous + weight * (sample - previous) : sample;
}

/**
 * The cost model assumes the link is the bottleneck. On a fast link the bottleneck is often
 * CPU (copying, hashing, the receiver's work), and there compressing can only slow delivery.
 * So LZ4 must also earn its place by measurement: windows with LZ4 allowed and windows
 * without alternate while exploring, the faster (pages delivered per millisecond, waits
 * included) is used for a while, then both are tried again. LZ4 must win by a margin.
 */
/** How much faster LZ4 windows must deliver than raw ones to be chosen. */
const LZ4_MARGIN = 1.1;

export class CompressionGovernor {
  private readonly windowPages: number;
  private readonly exploitWindows: number;
  /** The first window only warms up: a link's first megabytes (slow start, page faults) say little. */
  private phase: 'warm-up' | 'try-raw' | 'try-lz4' | 'exploit' = 'warm-up';
  private windowStartMs = Number.NaN;
  private windowPagesDone = 0;
  private windowBytes = 0;
  /**
   * Wire bytes per second in windows sent without LZ4: the rate the link (or whatever is
   * slowest behind it) takes raw pages. Windows with LZ4 are left out, since compressing slows
   * the sender and the rate it measures would make the link look slower than it is.
   */
  rawLinkBytesPerSec = 0;
  private rawRate = 0;
  private lz4Rate = 0;
  private exploitLeft = 0;
  private exploitLz4 = false;
  /** Windows decided, for the report: how often LZ4 won. */
  lz4Wins = 0;
  rawWins = 0;

  constructor(windowPages = 2048, exploitWindows = 8) {
    this.windowPages = windowPages;
    this.exploitWindows = exploitWindows;
  }

  /**
   * How the next batch decides on LZ4: `model` (warm-up, nothing measured yet: the cost model
   * with the link's cap decides), `raw` (no LZ4), or `lz4` (LZ4 for every batch that compresses).
   */
  get choice(): 'model' | 'raw' | 'lz4' {
    if (this.phase === 'warm-up') return 'model';
    return this.phase === 'try-lz4' || (this.phase === 'exploit' && this.exploitLz4) ? 'lz4' : 'raw';
  }

  get lz4Allowed(): boolean {
    return this.choice !== 'raw';
  }

  /** Called after a batch of `pages` (`wireBytes` on the wire) is handed to the link, after any wait. */
  delivered(pages: number, wireBytes: number, nowMs: number): void {
    if (Number.isNaN(this.windowStartMs)) {
      this.windowStartMs = nowMs;
      return; // the first batch after a pause only starts the clock
    }
    this.windowPagesDone += pages;
    this.windowBytes += wireBytes;
    if (this.windowPagesDone < this.windowPages) return;
    const elapsedMs = Math.max(nowMs - this.windowStartMs, 0.001);
    const rate = this.windowPagesDone / elapsedMs;
    if (this.choice === 'raw') this.rawLinkBytesPerSec = ewma(this.rawLinkBytesPerSec, (this.windowBytes / elapsedMs) * 1000, 0.5);
    this.windowPagesDone = 0;
    this.windowBytes = 0;
    this.windowStartMs = nowMs;
    if (this.phase === 'warm-up') {
      this.phase = 'try-raw';
    } else if (this.phase === 'try-raw') {
      this.rawRate = rate;
      this.phase = 'try-lz4';
    } else if (this.phase === 'try-lz4') {
      this.lz4Rate = rate;
      // Raw is the cheaper default (no work on either side): LZ4 must win clearly.
      this.exploitLz4 = this.lz4Rate > this.rawRate * LZ4_MARGIN;
      if (this.exploitLz4) this.lz4Wins++;
      else this.rawWins++;
      this.phase = 'exploit';
      this.exploitLeft = this.exploitWindows;
    } else if (--this.exploitLeft <= 0) {
      this.phase = 'try-raw';
    }
  }

  /** A pause in delivery (round boundaries, waiting for acknowledgements) is not the link's doing. */
  idle(): void {
    this.windowStartMs = Number.NaN;
    this.windowPagesDone = 0;
    this.windowBytes = 0;
  }
}
