import { ErrorCode, UsageError } from '../errors.ts';
import type { MemoryLayout } from '../memory/layout.ts';
import { DirtyBitmap } from './bitmap.ts';
import type { DirtyTracker } from './tracker.ts';

/**
 * Dirty tracking by someone else: the control plane pushes the bitmaps it got elsewhere, for
 * example a hypervisor's KVM_GET_DIRTY_LOG (one bit per page, little-endian 64-bit words),
 * and each sync takes what was pushed since the last one. The control plane must push before
 * the engine syncs; `onSync`, when given, is called first so it can fetch a fresh log.
 */
export class ExternalTracker implements DirtyTracker {
  readonly kind = 'external';
  private readonly pending: DirtyBitmap[];
  private readonly onSync: ((regionIndex: number) => void | Promise<void>) | undefined;

  constructor(layout: MemoryLayout, options: { onSync?: (regionIndex: number) => void | Promise<void> } = {}) {
    this.pending = layout.regions.map((r) => new DirtyBitmap(r.sizeBytes / layout.pageSize));
    this.onSync = options.onSync;
  }

  /**
   * Adds a dirty log for `regionIndex`. `log` is either 32-bit words or 64-bit little-endian
   * words (KVM's layout); on a little-endian host both are the same bits.
   */
  push(regionIndex: number, log: Uint32Array | BigUint64Array): void {
    const target = this.pending[regionIndex];
    if (!target) throw new UsageError(ErrorCode.INVALID_ARGUMENT, `no region ${regionIndex}`);
    const words = log instanceof Uint32Array ? log : new Uint32Array(log.buffer, log.byteOffset, log.length * 2);
    const n = Math.min(words.length, target.words.length);
    for (let i = 0; i < n; i++) target.words[i]! |= words[i]!;
    // Bits past the region's last page are not pages: drop them.
    const tail = target.bitCount & 31;
    if (tail !== 0 && n === target.words.length) target.words[n - 1]! &= (1 << tail) - 1;
  }

  start(): void {
    for (const p of this.pending) p.clearAll();
  }

  async sync(regionIndex: number, into: DirtyBitmap): Promise<number> {
    await this.onSync?.(regionIndex);
    const pending = this.pending[regionIndex];
    if (!pending) throw new UsageError(ErrorCode.INVALID_ARGUMENT, `no region ${regionIndex}`);
    const taken = into.takeFrom(pending);
    return taken;
  }

  stop(): void {}
}
