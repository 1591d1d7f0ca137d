import { ErrorCode, UsageError } from '../errors.ts';
import type { DirtyBitmap } from './bitmap.ts';
import type { DirtyTracker } from './tracker.ts';

/**
 * A tracker per region behind the one `DirtyTracker` port: region `i` is tracked by
 * `trackers[i]`, for example the write barrier for memory the guest's own code writes, the
 * kernel tracker for an anonymous heap, and the hash scan for a region a device writes. Each
 * tracker is built for the whole memory as usual; a tracker given for several regions is
 * started and stopped once.
 */
export class PerRegionTracker implements DirtyTracker {
  readonly kind: string;
  private readonly trackers: readonly DirtyTracker[];
  private readonly distinct: readonly DirtyTracker[];

  constructor(trackers: readonly DirtyTracker[]) {
    if (trackers.length === 0) throw new UsageError(ErrorCode.INVALID_ARGUMENT, 'PerRegionTracker needs a tracker per region');
    this.trackers = trackers;
    this.distinct = [...new Set(trackers)];
    this.kind = `per-region(${trackers.map((t) => t.kind).join(',')})`;
  }

  async start(): Promise<void> {
    for (const t of this.distinct) await t.start();
  }

  sync(regionIndex: number, into: DirtyBitmap): number | Promise<number> {
    return this.tracker(regionIndex).sync(regionIndex, into);
  }

  /** Takes early only from trackers that can; for the others the page simply goes again next round. */
  syncRange(regionIndex: number, fromPage: number, toPage: number, into: DirtyBitmap): number {
    return this.tracker(regionIndex).syncRange?.(regionIndex, fromPage, toPage, into) ?? 0;
  }

  stop(): void {
    for (const t of this.distinct) t.stop();
  }

  private tracker(regionIndex: number): DirtyTracker {
    const t = this.trackers[regionIndex];
    if (!t) throw new UsageError(ErrorCode.INVALID_ARGUMENT, `no tracker for region ${regionIndex}`);
    return t;
  }
}
