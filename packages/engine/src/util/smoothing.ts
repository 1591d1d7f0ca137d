/** Smoothing for measured rates, shared by the codec chooser and the estimators. */

/**
 * A capacity estimate from noisy samples: contention on a shared machine only ever makes a
 * measurement slower, so the best recent sample is the better guess. Takes a new high at once
 * and lets an old one decay by `decay` per sample.
 */
export function decayingMax(previous: number, sample: number, decay: number = 0.9): number {
  return Math.max(sample, previous * decay);
}

/** Exponentially weighted moving average; the first sample sets it. */
export function ewma(previous: number, sample: number, weight: number = 0.3): number {
  return Number.isFinite(previous) && previous > 0 ? previous + weight * (sample - previous) : sample;
}
