/**
 * The link's rate, estimated from the bytes that leave the sender's queue while it sends
 * without a break. Pure: the caller passes the time (and, where the OS tells it, how long the
 * sending thread waited for a CPU), so tests drive it with made-up clocks.
 *
 * Measured over windows of `windowBytes`: a round of small batches says nothing about the link
 * until enough bytes went through to fill the path. Robust to:
 * - idle gaps: `idle()` (round ends, waiting for an acknowledgement) drops the window under
 *   way, so time spent not sending is never counted as the link being slow;
 * - the first burst: the very first window fills empty socket buffers at memory speed, not at
 *   the link's, and is left out;
 * - a shared CPU: each window's rate is also computed without the time the sending thread sat
 *   runnable but not running, which is what the final round, with the guest paused and a core
 *   freed, comes closer to.
 */
export interface LinkRateOptions {
  /** Bytes a window must see before its rate counts. Default 4 MiB. */
  readonly windowBytes?: number;
  /** Weight of a new window in the smoothed rate. Default 0.3. */
  readonly smoothing?: number;
  /** Per window, how much of the best rate so far is kept, so an old peak fades. Default 0.9. */
  readonly peakDecay?: number;
}

export class LinkRateEstimator {
  private readonly windowBytes: number;
  private readonly smoothing: number;
  private readonly peakDecay: number;
  private startMs = Number.NaN;
  private startBytes = 0;
  private startDelayMs = Number.NaN;
  private skippedFirst = false;
  /** Windows measured (the first burst not counted). */
  windows: number = 0;
  /** Exponentially smoothed window rate, bytes per second; 0 until a window was measured. */
  smoothedBytesPerSec: number = 0;
  /** The best recent window (decaying), bytes per second. */
  peakBytesPerSec: number = 0;
  /** The best recent window without CPU waits (decaying); 0 where waits are not known. */
  uncontendedPeakBytesPerSec: number = 0;

  constructor(o: LinkRateOptions = {}) {
    this.windowBytes = o.windowBytes ?? 4 * 2 ** 20;
    this.smoothing = o.smoothing ?? 0.3;
    this.peakDecay = o.peakDecay ?? 0.9;
  }

  /**
   * `flushedBytes`: bytes that have left the queue since the migration began (cumulative);
   * `runDelayMs`: reads the sending thread's cumulative wait for a CPU (NaN if unknown); called
   * only when a window starts or ends, as reading it may cost a system call.
   */
  observe(flushedBytes: number, nowMs: number, runDelayMs: () => number = () => Number.NaN): void {
    if (Number.isNaN(this.startMs)) {
      this.start(flushedBytes, nowMs, runDelayMs());
      return;
    }
    const bytes = flushedBytes - this.startBytes;
    if (bytes < this.windowBytes) return;
    const elapsedMs = nowMs - this.startMs;
    const delayMs = runDelayMs();
    if (elapsedMs > 0) {
      if (!this.skippedFirst) {
        this.skippedFirst = true;
      } else {
        this.count(bytes, elapsedMs, delayMs - this.startDelayMs);
      }
    }
    this.start(flushedBytes, nowMs, delayMs);
  }

  /** Sending paused: the window under way is dropped, and the next observation starts one. */
  idle(): void {
    this.startMs = Number.NaN;
  }

  private start(bytes: number, nowMs: number, delayMs: number): void {
    this.startMs = nowMs;
    this.startBytes = bytes;
    this.startDelayMs = delayMs;
  }

  private count(bytes: number, elapsedMs: number, waitedMs: number): void {
    const rate = (bytes / elapsedMs) * 1000;
    this.windows++;
    this.smoothedBytesPerSec =
      this.smoothedBytesPerSec > 0 ? this.smoothedBytesPerSec + this.smoothing * (rate - this.smoothedBytesPerSec) : rate;
    this.peakBytesPerSec = Math.max(rate, this.peakBytesPerSec * this.peakDecay);
    if (Number.isFinite(waitedMs) && waitedMs >= 0) {
      // Never credit more than 3/4 of a window to waiting: the figure stays a measurement.
      const uncontended = (bytes / Math.max(elapsedMs - waitedMs, elapsedMs / 4)) * 1000;
      this.uncontendedPeakBytesPerSec = Math.max(uncontended, this.uncontendedPeakBytesPerSec * this.peakDecay);
    }
  }
}
