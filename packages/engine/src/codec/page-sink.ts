import type { GuestMemory } from '../memory/guest-memory.ts';

/**
 * Where the decoder puts verified pages. In pre-copy, straight into memory (`MemorySink`). In
 * post-copy the guest runs meanwhile, so a page already here (perhaps changed since by the
 * guest) must not be overwritten, and a page that arrives must be marked present (and may need
 * a special write, such as UFFDIO_COPY into memory registered with userfaultfd).
 */
export interface PageSink {
  /** False: the page is here already; drop the copy that arrived. */
  wants(region: number, page: number): boolean;
  /**
   * Writes one verified page, the page size of bytes at `offset` in `src` (valid only during
   * the call), and marks it present. An offset rather than a view: no object per page.
   */
  write(region: number, page: number, src: Buffer, offset: number): void;
}

/** Every page wanted, copied into the guest's memory. */
export class MemorySink implements PageSink {
  /** Each region's bytes as a Buffer (for `Buffer.copy`), over the same memory. */
  readonly regions: readonly Buffer[];
  private readonly pageSize: number;

  constructor(memory: GuestMemory) {
    this.pageSize = memory.pageSize;
    this.regions = memory.regions.map((r) => Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength));
  }

  wants(): boolean {
    return true;
  }

  write(region: number, page: number, src: Buffer, offset: number): void {
    src.copy(this.regions[region]!, page * this.pageSize, offset, offset + this.pageSize);
  }
}
