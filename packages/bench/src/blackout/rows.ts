/** The blackout benchmark's workloads: the rows, each run with every strategy. */
export interface BlackoutRow {
  readonly name: string;
  /** Hot set the guest writes, MiB (0: idle). */
  readonly hotMiB: number;
  readonly pagesPerSec: number;
  /** 0: uncapped. */
  readonly capBytesPerSec: number;
  readonly maxDowntimeMs: number;
}

const MiB = 2 ** 20;
export const CAP = 125 * MiB;

export const ROWS: readonly BlackoutRow[] = [
  { name: 'idle, uncapped, 300 ms', hotMiB: 0, pagesPerSec: 0, capBytesPerSec: 0, maxDowntimeMs: 300 },
  { name: 'idle, 125 MiB/s, 300 ms', hotMiB: 0, pagesPerSec: 0, capBytesPerSec: CAP, maxDowntimeMs: 300 },
  { name: 'hot 64 MiB 5k/s, 125 MiB/s, 50 ms', hotMiB: 64, pagesPerSec: 5_000, capBytesPerSec: CAP, maxDowntimeMs: 50 },
  { name: 'hot 256 MiB 50k/s, uncapped, 50 ms', hotMiB: 256, pagesPerSec: 50_000, capBytesPerSec: 0, maxDowntimeMs: 50 },
  { name: 'hot 256 MiB 50k/s, 125 MiB/s, 300 ms', hotMiB: 256, pagesPerSec: 50_000, capBytesPerSec: CAP, maxDowntimeMs: 300 },
];

export const STRATEGIES = ['precopy', 'postcopy', 'hybrid'] as const;
export type Strategy = (typeof STRATEGIES)[number];
