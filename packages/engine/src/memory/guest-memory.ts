import { loadNativeMemory, type NativeMapping, type NativeMemoryBinding } from '../accel/native-memory.ts';
import { ErrorCode, FerryError, UsageError } from '../errors.ts';
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
  /**
   * Set when the addon mapped this region (`GuestMemory.map`): memory the kernel can track per
   * page (`KernelWriteTracker`) and that another process may share through a file.
   */
  readonly mapping?: NativeMapping;
}

/** A region for `GuestMemory.map`: a file to share, or (without `file`) anonymous memory. */
export interface MappedRegionSpec {
  readonly name: string;
  /** Bytes to map; required for anonymous memory, else defaults to the file's length. */
  readonly sizeBytes?: number;
  /** A file to map shared, for example a VMM's RAM file under /dev/shm. */
  readonly file?: string;
  /** Map the file read-write (default true); read-only mappings never write the file. */
  readonly writable?: boolean;
  /** Create the file if it is missing (default false); it is grown to `sizeBytes` if shorter. */
  readonly create?: boolean;
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

  /**
   * Memory the native addon maps: files shared with other processes (a VMM's RAM file) or
   * anonymous memory, page-aligned so `KernelWriteTracker` can use it. Throws
   * `FERRY_MAPPING_FAILED` if a region cannot be mapped (and unmaps those already mapped).
   * Call `unmap()` when done; until then the views stay valid.
   */
  static map(options: { regions: readonly MappedRegionSpec[]; pageSize?: number }): GuestMemory {
    return GuestMemory.mapEach(options.pageSize, options.regions, (spec, binding) => {
      const what = spec.file ? `cannot map ${spec.file}` : 'cannot map anonymous memory';
      return [
        what,
        () =>
          spec.file
            ? binding.MemoryMapping.openFile(spec.file, {
                writable: spec.writable ?? true,
                create: spec.create ?? false,
                ...(spec.sizeBytes === undefined ? {} : { byteLength: spec.sizeBytes }),
              })
            : binding.MemoryMapping.anonymous(spec.sizeBytes ?? 0),
      ];
    });
  }

  /**
   * The same mapped memory in another thread of this process (a guest's worker), at the same
   * addresses, so kernel write tracking sees this thread's writes: pass the `mapping.id` of
   * each region of a `GuestMemory.map` memory. `unmap()` here detaches only this thread's views.
   */
  static attach(options: { regions: readonly { name: string; mappingId: number }[]; pageSize?: number }): GuestMemory {
    return GuestMemory.mapEach(options.pageSize, options.regions, (spec, binding) => [
      `cannot attach mapping ${spec.mappingId}`,
      () => binding.MemoryMapping.attach(spec.mappingId),
    ]);
  }

  /** Maps each region with `open`; on any failure unmaps those done and throws `FERRY_MAPPING_FAILED`. */
  private static mapEach<S extends { readonly name: string }>(
    pageSizeOption: number | undefined,
    specs: readonly S[],
    open: (spec: S, binding: NativeMemoryBinding) => [what: string, map: () => NativeMapping],
  ): GuestMemory {
    const pageSize = pageSizeOption ?? DEFAULT_PAGE_SIZE;
    const loaded = loadNativeMemory();
    if ('error' in loaded) throw new FerryError(ErrorCode.MAPPING_FAILED, loaded.error.message, { cause: loaded.error });
    const regions: MemoryRegion[] = [];
    try {
      for (const spec of specs) {
        const [what, map] = open(spec, loaded.binding);
        let mapping: NativeMapping;
        try {
          mapping = map();
        } catch (err) {
          const detail = err instanceof Error ? err.message : String(err);
          throw new FerryError(ErrorCode.MAPPING_FAILED, `region ${spec.name}: ${what}: ${detail}`, { cause: err });
        }
        const bytes = new Uint8Array(mapping.buffer());
        regions.push({ name: spec.name, sizeBytes: bytes.byteLength, pageCount: bytes.byteLength / pageSize, bytes, mapping });
      }
      checkLayout({ pageSize, regions: regions.map((r) => ({ name: r.name, sizeBytes: r.sizeBytes })) });
    } catch (err) {
      for (const r of regions) r.mapping?.unmap();
      throw err;
    }
    return new GuestMemory(pageSize, regions);
  }

  /**
   * Unmaps every region the addon mapped. Their `bytes` then read as empty (length 0), so no
   * view can reach memory that is gone. Regions backed by SharedArrayBuffers are untouched.
   */
  unmap(): void {
    for (const r of this.regions) r.mapping?.unmap();
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
