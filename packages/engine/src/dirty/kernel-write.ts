import { loadNativeMemory, type NativeWriteTracker } from '../accel/native-memory.ts';
import { ErrorCode, FerryError, UsageError } from '../errors.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import type { DirtyBitmap } from './bitmap.ts';
import type { DirtyTracker } from './tracker.ts';

/** Whether `KernelWriteTracker` can run here, and if not, why. */
export interface KernelTrackingSupport {
  readonly available: boolean;
  readonly reason?: string;
}

/**
 * Dirty tracking by the kernel, with no help from the guest and no pass over memory: Linux
 * userfaultfd write protection in its asynchronous mode (6.7+). `start` write-protects every
 * page; the first write to a page takes a fault that the kernel resolves by itself (no thread
 * of ours wakes up) and the page is remembered as written; each `sync` collects the written
 * pages with one PAGEMAP_SCAN walk that also protects them again, so a write racing with the
 * sync is seen now or next time, never lost.
 *
 * Needs memory the addon mapped (`GuestMemory.map`), and sees the writes of this process only
 * (the main thread and its workers): for a VMM in another process, use the VMM's dirty log
 * (`ExternalTracker`) or `HashScanTracker`. A guest page larger than the OS page is dirty when
 * any of its OS pages is.
 */
export class KernelWriteTracker implements DirtyTracker {
  readonly kind = 'kernel-write';
  private readonly memory: GuestMemory;
  private trackers: NativeWriteTracker[] = [];

  /** Throws `FERRY_KERNEL_TRACKING_UNAVAILABLE` if `support()` says no, or a region was not mapped by the addon. */
  constructor(memory: GuestMemory) {
    const support = KernelWriteTracker.support();
    if (!support.available) throw new FerryError(ErrorCode.KERNEL_TRACKING_UNAVAILABLE, support.reason ?? 'unavailable');
    const unmapped = memory.regions.find((r) => !r.mapping);
    if (unmapped) {
      const message = `region ${unmapped.name} is not memory the addon mapped: create the guest with GuestMemory.map`;
      throw new FerryError(ErrorCode.KERNEL_TRACKING_UNAVAILABLE, message);
    }
    this.memory = memory;
  }

  /** Whether the kernel, the permissions and the addon allow kernel write tracking here. */
  static support(): KernelTrackingSupport {
    const loaded = loadNativeMemory();
    if ('error' in loaded) return { available: false, reason: loaded.error.message };
    const s = loaded.binding.writeTrackingSupport();
    return s.available ? { available: true } : { available: false, reason: s.reason ?? 'unavailable' };
  }

  start(): void {
    this.stop();
    const loaded = loadNativeMemory();
    if ('error' in loaded) throw loaded.error;
    const { WriteTracker } = loaded.binding;
    try {
      for (const r of this.memory.regions) this.trackers.push(WriteTracker.create(r.mapping!, this.memory.pageSize));
    } catch (err) {
      this.stop();
      const detail = err instanceof Error ? err.message : String(err);
      throw new FerryError(ErrorCode.KERNEL_TRACKING_UNAVAILABLE, `write tracking did not start: ${detail}`, { cause: err });
    }
  }

  sync(regionIndex: number, into: DirtyBitmap): number {
    const tracker = this.trackers[regionIndex];
    if (!tracker) throw new UsageError(ErrorCode.INVALID_STATE, `no tracking of region ${regionIndex}: call start() first`);
    return tracker.collect(into.words);
  }

  stop(): void {
    for (const t of this.trackers) t.close();
    this.trackers = [];
  }
}
