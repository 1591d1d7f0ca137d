import { ErrorCode, UsageError } from '../errors.ts';
import type { MemoryLayout } from '../memory/layout.ts';
import { DirtyBitmap } from './bitmap.ts';
import type { DirtyTracker } from './tracker.ts';

/**
 * Dirty tracking by write barrier: the guest marks every page it writes in a shared bitmap,
 * after the write (write, then mark: a sync that clears the bit between the two still sees
 * the mark, so the page is sent again in the next round). The engine's sync takes the marks
 * atomically word by word. Cost: one Atomics.or per write on the guest side.
 */
export class WriteBarrierTracker implements DirtyTracker {
  readonly kind = 'write-barrier';
  /** One shared bitmap per region; hand `sharedBuffers()` to the guest. */
  readonly bitmaps: readonly DirtyBitmap[];

  constructor(layout: MemoryLayout) {
    this.bitmaps = layout.regions.map((r) => DirtyBitmap.shared(r.sizeBytes / layout.pageSize));
  }

  /** The SharedArrayBuffers the guest needs to build its `WriteBarrier`. */
  sharedBuffers(): SharedArrayBuffer[] {
    return this.bitmaps.map((b) => b.words.buffer as SharedArrayBuffer);
  }

  start(): void {
    // Round 0 reads memory after this returns, so a mark cleared here is a write round 0 sees.
    for (const b of this.bitmaps) b.words.fill(0);
  }

  sync(regionIndex: number, into: DirtyBitmap): number {
    const source = this.bitmaps[regionIndex];
    if (!source) throw new UsageError(ErrorCode.INVALID_ARGUMENT, `no region ${regionIndex}`);
    return into.takeFrom(source);
  }

  syncRange(regionIndex: number, fromPage: number, toPage: number, into: DirtyBitmap): number {
    const source = this.bitmaps[regionIndex];
    if (!source) throw new UsageError(ErrorCode.INVALID_ARGUMENT, `no region ${regionIndex}`);
    return into.takeWordsFrom(source, fromPage >>> 5, Math.ceil(toPage / 32));
  }

  stop(): void {}
}

/**
 * The guest's half of the write barrier: call `mark` after writing. Safe to use from any
 * thread that was given the tracker's shared buffers.
 */
export class WriteBarrier {
  private readonly words: Uint32Array[];
  private readonly pageShift: number;

  constructor(sharedBuffers: readonly SharedArrayBuffer[], pageSize: number) {
    this.words = sharedBuffers.map((b) => new Uint32Array(b));
    this.pageShift = Math.log2(pageSize);
  }

  /** Marks the page holding byte `offset` of region `regionIndex`. */
  markByte(regionIndex: number, offset: number): void {
    const page = Math.floor(offset / 2 ** this.pageShift);
    Atomics.or(this.words[regionIndex]!, page >>> 5, 1 << (page & 31));
  }

  /** Marks every page touched by `length` bytes from `offset`. */
  markRange(regionIndex: number, offset: number, length: number): void {
    if (length <= 0) return;
    const words = this.words[regionIndex]!;
    const size = 2 ** this.pageShift;
    const last = Math.floor((offset + length - 1) / size);
    for (let page = Math.floor(offset / size); page <= last; page++) {
      Atomics.or(words, page >>> 5, 1 << (page & 31));
    }
  }

  markPage(regionIndex: number, page: number): void {
    Atomics.or(this.words[regionIndex]!, page >>> 5, 1 << (page & 31));
  }
}
