import { ErrorCode, UsageError } from '../errors.ts';
import { checkLayout, DEFAULT_PAGE_SIZE, type MemoryLayout, totalBytes } from './layout.ts';

/** One contiguous range of guest memory. */
export interface MemoryRegion {
  readonly name: string;
  readonly sizeBytes: number;
  readonly pageCount: number;
  /**
   * The bytes. Backed by a SharedArrayBuffer so that a guest in a worker thread (or, later,
   * another process through a mapped file) writes them while the engine reads them.
   */
  readonly bytes: Uint8Array;
}

export interface RegionSpec {
  readonly name: string;
  readonly sizeBytes: number;
}

/**
 * A guest's memory: one or more regions of whole pages. The engine reads it on the source and
 * writes it on the destination; it never owns the guest's execution.
 */
export class GuestMemory {
  readonly pageSize: number;
  readonly regions: readonly MemoryRegion[];

  private constructor(pageSize: number, regions: readonly MemoryRegion[]) {
    this.pageSize = pageSize;
    this.regions = regions;
  }

  /** Allocates zeroed shared memory for `regions`. */
  static create(options: { regions: readonly RegionSpec[]; pageSize?: number }): GuestMemory {
    const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    checkLayout({ pageSize, regions: options.regions });
    return new GuestMemory(
      pageSize,
      options.regions.map((r) => ({
        name: r.name,
        sizeBytes: r.sizeBytes,
        pageCount: r.sizeBytes / pageSize,
        bytes: new Uint8Array(new SharedArrayBuffer(r.sizeBytes)),
      })),
    );
  }

  /** Allocates zeroed memory of the shape `layout` describes (the destination's usual start). */
  static fromLayout(layout: MemoryLayout): GuestMemory {
    return GuestMemory.create({ pageSize: layout.pageSize, regions: layout.regions });
  }

  /**
   * Wraps memory someone else allocated, for example SharedArrayBuffers handed over from a
   * guest's worker. The buffers are used in place, not copied.
   */
  static wrap(options: { pageSize?: number; regions: readonly { name: string; bytes: Uint8Array }[] }): GuestMemory {
    const pageSize = options.pageSize ?? DEFAULT_PAGE_SIZE;
    checkLayout({ pageSize, regions: options.regions.map((r) => ({ name: r.name, sizeBytes: r.bytes.byteLength })) });
    return new GuestMemory(
      pageSize,
      options.regions.map((r) => ({
        name: r.name,
        sizeBytes: r.bytes.byteLength,
        pageCount: r.bytes.byteLength / pageSize,
        bytes: r.bytes,
      })),
    );
  }

  get layout(): MemoryLayout {
    return { pageSize: this.pageSize, regions: this.regions.map((r) => ({ name: r.name, sizeBytes: r.sizeBytes })) };
  }

  get totalBytes(): number {
    return totalBytes(this.layout);
  }

  get totalPages(): number {
    let n = 0;
    for (const r of this.regions) n += r.pageCount;
    return n;
  }

  region(index: number): MemoryRegion {
    const r = this.regions[index];
    if (!r) throw new UsageError(ErrorCode.INVALID_ARGUMENT, `no region ${index}`);
    return r;
  }

  /** A view (not a copy) of one page. */
  page(regionIndex: number, pageIndex: number): Uint8Array {
    const r = this.region(regionIndex);
    const start = pageIndex * this.pageSize;
    return r.bytes.subarray(start, start + this.pageSize);
  }
}
