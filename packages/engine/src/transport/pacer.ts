import { type Clock, systemClock } from '../util/clock.ts';

/**
 * A token bucket for page data: at most `rate` bytes per second on average, with bursts of at
 * most `burstBytes`. The rate can change while a migration runs (like QEMU's max-bandwidth);
 * 0 or Infinity means unlimited. The caller awaits `take(bytes)` before writing.
 */
export class Pacer {
  private rateBytesPerSec: number;
  private readonly burstBytes: number;
  private tokens: number;
  private lastMs: number;
  private readonly clock: Clock;

  constructor(rateBytesPerSec: number, options: { burstBytes?: number; clock?: Clock } = {}) {
    this.clock = options.clock ?? systemClock;
    this.rateBytesPerSec = normalize(rateBytesPerSec);
    this.burstBytes = options.burstBytes ?? 2 * 1024 * 1024;
    this.tokens = this.burstBytes;
    this.lastMs = this.clock.nowMs();
  }

  get rate(): number {
    return this.rateBytesPerSec;
  }

  /** The bucket's size: how much may leave at once after a pause. */
  get burst(): number {
    return this.burstBytes;
  }

  /** Bytes that may be sent now without waiting (the bucket's balance, never negative). */
  available(): number {
    this.refill();
    return Math.max(0, this.tokens);
  }

  setRate(rateBytesPerSec: number): void {
    this.refill();
    this.rateBytesPerSec = normalize(rateBytesPerSec);
  }

  /** Milliseconds to wait before `bytes` may be sent; takes the tokens (the balance may go negative). */
  reserve(bytes: number): number {
    if (!Number.isFinite(this.rateBytesPerSec)) return 0;
    this.refill();
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.rateBytesPerSec) * 1000;
  }

  /** Gives back tokens reserved for bytes that were not sent (a batch smaller than reserved for). */
  refund(bytes: number): void {
    if (!Number.isFinite(this.rateBytesPerSec) || !(bytes > 0)) return;
    this.refill();
    this.tokens = Math.min(this.burstBytes, this.tokens + bytes);
  }

  async take(bytes: number): Promise<void> {
    const waitMs = this.reserve(bytes);
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
  }

  private refill(): void {
    const now = this.clock.nowMs();
    if (!Number.isFinite(this.rateBytesPerSec)) {
      this.tokens = this.burstBytes;
      this.lastMs = now;
      return;
    }
    this.tokens = Math.min(this.burstBytes, this.tokens + ((now - this.lastMs) / 1000) * this.rateBytesPerSec);
    this.lastMs = now;
  }
}

function normalize(rate: number): number {
  return rate > 0 && Number.isFinite(rate) ? rate : Number.POSITIVE_INFINITY;
}
