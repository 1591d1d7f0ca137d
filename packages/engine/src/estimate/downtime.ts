/**
 * Downtime prediction, pure: what stopping the guest now would cost. The engine, the tests
 * and the benchmarks share this function so that a prediction is computed one way only.
 */
export interface DowntimeInputs {
  /** Pages that would be sent with the guest paused. */
  readonly dirtyPages: number;
  /** Wire bytes per page sent (page plus its entry). */
  readonly bytesPerPage: number;
  /** Measured rate at which the link takes page data. */
  readonly bandwidthBytesPerSec: number;
  /**
   * The part of downtime that does not depend on dirty pages, measured: the memory digest
   * and a round trip to the destination, plus a millisecond for the hooks.
   */
  readonly fixedCostMs: number;
  /**
   * Bytes that leave without waiting for the link's rate: under a cap, the pacer's bucket
   * (refilled while the guest still ran) lets the first bytes of the final round out at the
   * host's speed, far above the cap. 0 when uncapped.
   */
  readonly burstBytes?: number;
}

/** Predicted downtime in milliseconds; Infinity while the bandwidth is still unknown. */
export function predictDowntimeMs(i: DowntimeInputs): number {
  if (!(i.bandwidthBytesPerSec > 0)) return Number.POSITIVE_INFINITY;
  const bytes = i.dirtyPages * i.bytesPerPage;
  const paced = Math.max(0, bytes - (i.burstBytes ?? 0));
  return (paced / i.bandwidthBytesPerSec) * 1000 + i.fixedCostMs;
}
