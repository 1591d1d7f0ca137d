/** LZ4 or raw: the cost model that weighs compressing a batch against sending it as it is. */

/**
 * Whether compressing a batch with LZ4 shortens the time to deliver it, from measured figures
 * only. One thread prepares batches and the link carries them, so time adds up per byte:
 * raw costs 1/link, LZ4 costs 1/lz4 (compressing) + ratio/link (sending what is left). LZ4
 * pays when 1/lz4 + ratio/link < 1/link, i.e. when the link is slow next to the compressor
 * and the data compresses, by a margin. Pure, so benchmarks and tests use the same rule.
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
  // A 10% margin: raw costs no CPU on either side, so LZ4 must win clearly.
  return 1 / m.lz4BytesPerSec + m.lz4Ratio / m.linkBytesPerSec < LZ4_MARGIN / m.linkBytesPerSec;
}

/** The share of raw's per-byte time LZ4's must stay under. */
const LZ4_MARGIN = 0.9;
