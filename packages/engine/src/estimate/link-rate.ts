import { ewma } from '../util/smoothing.ts';

/**
 * The link's rate, estimated from the bytes that leave the sender's queue while it sends
 * without a break, smoothed. Pure: the caller passes the time, so tests drive it with made-up
 * clocks.
 *
 * Measured over windows of `windowBytes`: a round of small batches says nothing about the link
 * until enough bytes went through to fill the path. Robust to:
 * - idle gaps: `idle()` (round ends, waiting for an acknowledgement, a reconnection) drops the
 *   window under way, so time spent not sending is never counted as the link being slow;
 * - the first burst: the very first window fills empty socket buffers at memory speed, not at
 *   the link's, and is left out.
 */
export interface LinkRateOptions {
  /** Bytes a window must see before its rate counts. Default 4 MiB. */
  readonly windowBytes?: number;
  /** Weight of a new window in the smoothed rate. Default 0.3. */
  readonly smoothing?: number;
}

export class LinkRateEstimator {
  private readonly windowBytes: number;
  private readonly smoothing: number;
  private startMs = Number.NaN;
  private startBytes = 0;
  private skippedFirst = false;
  /** Windows measured (the first burst not counted). */
  windows: number = 0;
  /** Exponentially smoothed window rate, bytes per second; 0 until a window was measured. */
  smoothedBytesPerSec: number = 0;

  constructor(o: LinkRateOptions = {}) {
    this.windowBytes = o.windowBytes ?? 4 * 2 ** 20;
    this.smoothing = o.smoothing ?? 0.3;
  }

  /** `flushedBytes`: bytes that have left the queue since the migration began (cumulative). */
  observe(flushedBytes: number, nowMs: number): void {
    if (Number.isNaN(this.startMs)) {
      this.startMs = nowMs;
      this.startBytes = flushedBytes;
      return;
    }
    const bytes = flushedBytes - this.startBytes;
    if (bytes < this.windowBytes) return;
    const elapsedMs = nowMs - this.startMs;
    if (elapsedMs > 0 && this.skippedFirst) {
      this.windows++;
      this.smoothedBytesPerSec = ewma(this.smoothedBytesPerSec, (bytes / elapsedMs) * 1000, this.smoothing);
    }
    this.skippedFirst ||= elapsedMs > 0;
    this.startMs = nowMs;
    this.startBytes = flushedBytes;
  }

  /** Sending paused: the window under way is dropped, and the next observation starts one. */
  idle(): void {
    this.startMs = Number.NaN;
  }
}
