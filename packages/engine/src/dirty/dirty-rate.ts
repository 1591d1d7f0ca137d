import type { Clock } from '../util/clock.ts';
import { systemClock } from '../util/clock.ts';
import type { MemoryLayout } from '../memory/layout.ts';
import { DirtyBitmap } from './bitmap.ts';
import { claimGuest } from './guest-lock.ts';
import type { DirtyTracker } from './tracker.ts';

export interface DirtyRateSample {
  /** Pages dirtied per second, averaged over the whole measurement. */
  readonly dirtyPagesPerSec: number;
  /** Distinct pages written during the measurement: the writable working set. */
  readonly workingSetPages: number;
  /** Pages per second in each sampling interval, to see how steady the rate is. */
  readonly intervalsPagesPerSec: readonly number[];
  readonly durationMs: number;
}

/**
 * Measures how fast a running guest dirties memory, with any tracker, like QEMU's
 * calc-dirty-rate: start tracking, sync every `intervalMs` for `durationMs`, and report the
 * rate (pages found dirty per interval) and the working set (distinct pages over the whole
 * measurement). Moves nothing; the tracker is stopped afterwards.
 */
export async function measureDirtyRate(options: {
  tracker: DirtyTracker;
  layout: MemoryLayout;
  durationMs: number;
  intervalMs?: number;
  clock?: Clock;
}): Promise<DirtyRateSample> {
  const release = claimGuest('a dirty-rate sample', undefined, options.tracker);
  try {
    return await sampleDirtyRate(options);
  } finally {
    release();
  }
}

/** `measureDirtyRate` for the one that already holds the guest (a migration sampling its own guest). */
export async function sampleDirtyRate(options: {
  tracker: DirtyTracker;
  layout: MemoryLayout;
  durationMs: number;
  intervalMs?: number;
  clock?: Clock;
}): Promise<DirtyRateSample> {
  const clock = options.clock ?? systemClock;
  const intervalMs = options.intervalMs ?? Math.max(10, options.durationMs / 5);
  const pageCounts = options.layout.regions.map((r) => r.sizeBytes / options.layout.pageSize);
  const union = pageCounts.map((n) => new DirtyBitmap(n));
  const scratch = pageCounts.map((n) => new DirtyBitmap(n));
  return sample(options, clock, intervalMs, pageCounts, union, scratch);
}

async function sample(
  options: { tracker: DirtyTracker; durationMs: number },
  clock: Clock,
  intervalMs: number,
  pageCounts: number[],
  union: DirtyBitmap[],
  scratch: DirtyBitmap[],
): Promise<DirtyRateSample> {
  await options.tracker.start();
  const start = clock.nowMs();
  let last = start;
  let total = 0;
  const intervals: number[] = [];
  try {
    while (last - start < options.durationMs) {
      await new Promise((r) => setTimeout(r, Math.min(intervalMs, options.durationMs - (last - start))));
      let pages = 0;
      for (let r = 0; r < pageCounts.length; r++) {
        scratch[r]!.clearAll();
        pages += await options.tracker.sync(r, scratch[r]!);
        union[r]!.or(scratch[r]!);
      }
      const now = clock.nowMs();
      intervals.push((pages / Math.max(now - last, 0.001)) * 1000);
      total += pages;
      last = now;
    }
  } finally {
    options.tracker.stop();
  }
  const durationMs = last - start;
  return {
    dirtyPagesPerSec: (total / Math.max(durationMs, 0.001)) * 1000,
    workingSetPages: union.reduce((n, b) => n + b.count(), 0),
    intervalsPagesPerSec: intervals,
    durationMs,
  };
}
