/** The one monitor of the link during pre-copy: every rate the sender, the codec, the predictor and the policy read. */
import { rateWithoutWaits } from '../util/run-delay.ts';
import { LinkMeter } from './link-meter.ts';
import { LinkRateEstimator, type LinkRateOptions } from './link-rate.ts';

/** Rounds that moved no more bytes than this say little about the link: they keep the per-round figures as they were. */
export const MIN_ROUND_BYTES: number = 1024 * 1024;

/** One batch handed to the link (after any wait for the pacer or a full socket). */
export interface BatchDelivery {
  readonly pages: number;
  /** The frame's bytes. */
  readonly wireBytes: number;
  /** Some page of it went out LZ4-compressed. */
  readonly compressed: boolean;
  /** Bytes that have left user space on every connection since the migration began (cumulative). */
  readonly flushedBytes: number;
  /** The pacer's rate now, bytes per second; Infinity when uncapped. */
  readonly capBytesPerSec: number;
}

/** One round, after its ROUND_END left. */
export interface RoundDelivery {
  /** Bytes that left user space during the round. */
  readonly flushedBytes: number;
  /** The round's time, above 0. */
  readonly durationMs: number;
  /** Of that time, how long the sending thread sat runnable but not running (NaN where not known). */
  readonly waitedMs: number;
  /** The pacer's rate now, bytes per second; Infinity when uncapped. */
  readonly capBytesPerSec: number;
}

/** What readers see of the monitor: figures only, nothing that feeds it. */
export interface LinkView {
  /** The link's rate as the last round of more than 1 MiB measured it (bytes that left user space), never above the cap. */
  readonly bandwidthBytesPerSec: number;
  /**
   * The fastest round so far (of more than 1 MiB), never above a cap. Uncapped, the final round
   * runs at least this fast: the paused guest no longer takes a core from the sender.
   */
  readonly peakBandwidthBytesPerSec: number;
  /**
   * The rate the last round of more than 1 MiB would have had without waiting for a CPU: its
   * bytes over its time less the time the sending thread sat runnable but not running (Linux
   * schedstat). The final round runs with the guest paused, so closer to this than to the
   * contended rate. 0 where schedstat is not available.
   */
  readonly uncontendedBandwidthBytesPerSec: number;
  /** Windows of continuous sending measured (`LinkRateEstimator`; the first burst not counted). */
  readonly windowsMeasured: number;
  /** The smoothed rate over those windows; 0 until one was measured. */
  readonly windowBytesPerSec: number;
  /** Wire bytes per second of the best recent raw window (`LinkMeter`, decaying); 0 until one was measured. */
  readonly rawLinkBytesPerSec: number;
  /** Whether the next batch must go without LZ4, so that a raw window re-measures the link. */
  readonly forceRaw: boolean;
  /** The cap as of the last batch, bytes per second; Infinity before the first batch and when uncapped. */
  readonly capBytesPerSec: number;
  /** The rate LZ4 is weighed against: the cap, or raw windows' measured rate if lower. */
  readonly codecBytesPerSec: number;
  /**
   * The rate the switchover policies get (`RoundFigures.bandwidthBytesPerSec`): the windows'
   * smoothed rate under `capBytesPerSec` once a window was measured, the last round's before.
   */
  policyBandwidthBytesPerSec(capBytesPerSec: number): number;
}

export interface LinkMonitorOptions {
  /** The windows of continuous sending. Default 4 MiB windows, smoothing 0.3. */
  readonly windows?: LinkRateOptions;
  /** Pages a raw window for LZ4's cost model must see. Default 2048. */
  readonly rawWindowPages?: number;
  /** While LZ4 keeps winning, every this many windows one is forced raw. Default 16. */
  readonly remeasureEvery?: number;
}

/**
 * Measures the link once for every reader. The round sender feeds it: `batch` after each batch
 * is handed over, `idle` when sending pauses (a round's end, before ROUND_END), `roundEnded`
 * after ROUND_END left, `newConnection` on a reconnection. Three estimates come out of that one
 * stream: per-round figures (rate, fastest, uncontended) for the downtime prediction, windows
 * of continuous sending (`LinkRateEstimator`) for the policies, raw windows (`LinkMeter`) for
 * LZ4's cost model. Pure: the caller passes times and byte counts.
 */
export class LinkMonitor implements LinkView {
  private readonly windows: LinkRateEstimator;
  private readonly raw: LinkMeter;
  private bandwidth = 0;
  private peakBandwidth = 0;
  private uncontendedBandwidth = 0;
  private cap = Number.POSITIVE_INFINITY;

  constructor(options: LinkMonitorOptions = {}) {
    this.windows = new LinkRateEstimator(options.windows);
    this.raw = new LinkMeter(options.rawWindowPages, options.remeasureEvery);
  }

  get bandwidthBytesPerSec(): number {
    return this.bandwidth;
  }
  get peakBandwidthBytesPerSec(): number {
    return this.peakBandwidth;
  }
  get uncontendedBandwidthBytesPerSec(): number {
    return this.uncontendedBandwidth;
  }
  get windowsMeasured(): number {
    return this.windows.windows;
  }
  get windowBytesPerSec(): number {
    return this.windows.smoothedBytesPerSec;
  }
  get rawLinkBytesPerSec(): number {
    return this.raw.rawLinkBytesPerSec;
  }
  get forceRaw(): boolean {
    return this.raw.forceRaw;
  }
  get capBytesPerSec(): number {
    return this.cap;
  }
  get codecBytesPerSec(): number {
    const measured = this.raw.rawLinkBytesPerSec;
    return Math.min(this.cap, measured > 0 ? measured : Number.POSITIVE_INFINITY);
  }

  policyBandwidthBytesPerSec(capBytesPerSec: number): number {
    return this.windows.windows > 0 ? Math.min(capBytesPerSec, this.windows.smoothedBytesPerSec) : this.bandwidth;
  }

  /** A batch was handed to the link at `nowMs`. */
  batch(b: BatchDelivery, nowMs: number): void {
    this.cap = b.capBytesPerSec;
    this.raw.delivered(b.pages, b.wireBytes, b.compressed, nowMs);
    this.windows.observe(b.flushedBytes, nowMs);
  }

  /** Sending paused (a round's end): the windows under way are dropped, so the gap never counts as a slow link. */
  idle(): void {
    this.raw.idle();
    this.windows.idle();
  }

  /**
   * Sending goes on over a new connection: byte counts start again there, so a window of
   * continuous sending spanning the break would count the outage as a slow link. Only those:
   * the raw window under way runs on, so it may span the outage (resetting it too would change
   * LZ4's figures; that is a change of its own).
   */
  newConnection(): void {
    this.windows.idle();
  }

  /**
   * A round ended: with more than 1 MiB flushed (or any, before the first figure), its rate
   * (never above the cap) becomes the round figure, the fastest round's if faster, and without
   * its waits for a CPU the uncontended figure. Smaller rounds keep the old figures.
   */
  roundEnded(r: RoundDelivery): void {
    // A small round's rate is rough, but better than none: without it a guest whose rounds all
    // fit in the socket buffers never gets a prediction, and so never a switchover.
    if (r.flushedBytes > MIN_ROUND_BYTES || (this.bandwidth === 0 && r.flushedBytes > 0 && r.durationMs > 0)) {
      this.bandwidth = Math.min(r.capBytesPerSec, (r.flushedBytes / r.durationMs) * 1000);
      this.peakBandwidth = Math.max(this.peakBandwidth, this.bandwidth);
      const uncontended = rateWithoutWaits(r.flushedBytes, r.durationMs, r.waitedMs);
      if (Number.isFinite(uncontended)) this.uncontendedBandwidth = Math.min(r.capBytesPerSec, uncontended);
    }
  }
}
