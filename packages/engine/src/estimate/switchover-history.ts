/**
 * What earlier switchovers teach about this one. The fixed part of downtime has pieces no
 * measurement before the pause can see: the control plane's `pause()` and `resume()` hooks,
 * and the destination's own handling of each switchover message (on this project's 2-core
 * benchmark machine, about a millisecond more than the timed round trips). After each
 * completed migration the engine records the downtime it would have predicted for the pages
 * it really sent and the downtime it measured; later predictions add a robust line through
 * those misses (`correctionMs`).
 * Keep one history per pair of hosts (and control plane) whose migrations are alike. Pure.
 */
export interface SwitchoverHistoryOptions {
  /** Switchovers remembered; the oldest is forgotten first. Default 16. */
  readonly size?: number;
  /** Switchovers needed before a correction is applied. Default 3. */
  readonly minSamples?: number;
}

/** `SwitchoverHistory` as plain data (JSON). */
export interface SwitchoverHistoryData {
  readonly size: number;
  readonly minSamples: number;
  readonly misses: readonly { readonly transferMs: number; readonly missMs: number }[];
}

export class SwitchoverHistory {
  private readonly size: number;
  private readonly minSamples: number;
  /** Per switchover: the predicted transfer time, and measured less predicted downtime. */
  private readonly misses: { transferMs: number; missMs: number }[] = [];

  constructor(o: SwitchoverHistoryOptions = {}) {
    this.size = Math.max(1, o.size ?? 16);
    this.minSamples = Math.max(1, o.minSamples ?? 3);
  }

  /**
   * After a switchover: the prediction for the pages really sent (without correction) and its
   * transfer part, and the measured downtime.
   */
  record(predicted: { totalMs: number; transferMs: number }, measuredMs: number): void {
    if (!Number.isFinite(predicted.totalMs) || !Number.isFinite(predicted.transferMs) || !Number.isFinite(measuredMs)) return;
    this.misses.push({ transferMs: predicted.transferMs, missMs: measuredMs - predicted.totalMs });
    if (this.misses.length > this.size) this.misses.shift();
  }

  /** The history as plain data, for a control plane to keep between migrations (and processes). */
  toJSON(): SwitchoverHistoryData {
    return { size: this.size, minSamples: this.minSamples, misses: this.misses.map((m) => ({ ...m })) };
  }

  /** A history saved with `toJSON`; entries that are not finite numbers are dropped. */
  static fromJSON(data: SwitchoverHistoryData): SwitchoverHistory {
    const h = new SwitchoverHistory({ size: data.size, minSamples: data.minSamples });
    for (const m of Array.isArray(data.misses) ? data.misses : []) {
      if (Number.isFinite(m?.transferMs) && Number.isFinite(m?.missMs)) h.misses.push({ transferMs: m.transferMs, missMs: m.missMs });
    }
    h.misses.splice(0, Math.max(0, h.misses.length - h.size));
    return h;
  }

  /** Switchovers recorded (at most `size`). */
  get samples(): number {
    return this.misses.length;
  }

  /**
   * Milliseconds to add to a prediction whose transfer part is `transferMs`: a line through
   * the misses, fixed part plus a share of the transfer (a rate the model gets wrong by a
   * steady factor), fitted robustly (Theil-Sen: the median of pairwise slopes, then the median
   * intercept), so one disturbed switchover moves it little. Where the transfers seen are all
   * alike, the median miss. 0 until `minSamples`, and while the transfer is not known.
   */
  correctionMs(transferMs: number): number {
    const n = this.misses.length;
    if (n < this.minSamples || !Number.isFinite(transferMs)) return 0;
    const slopes: number[] = [];
    for (let i = 0; i < n; i++) {
      for (let j = i + 1; j < n; j++) {
        const a = this.misses[i]!;
        const b = this.misses[j]!;
        // Transfers closer than a millisecond say nothing about a slope.
        if (Math.abs(b.transferMs - a.transferMs) >= 1) slopes.push((b.missMs - a.missMs) / (b.transferMs - a.transferMs));
      }
    }
    // Never let the fit cancel more than half of the transfer, nor double it.
    const slope = slopes.length >= this.minSamples ? Math.min(1, Math.max(-0.5, median(slopes))) : 0;
    const intercept = median(this.misses.map((m) => m.missMs - slope * m.transferMs));
    return intercept + slope * transferMs;
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const m = sorted.length >> 1;
  return sorted.length % 2 ? sorted[m]! : (sorted[m - 1]! + sorted[m]!) / 2;
}
