import type { Kernels } from '@ferry/engine';
import type { Layout } from '../scenario.ts';
import { memoryDigest } from '../wire/digest.ts';

/**
 * The kit's guest (role source): the layout the destination expects, filled with a pattern
 * that has every kind of page an encoding needs: zero pages (every 4th), copies of page 1
 * (every 8th from 5: DEDUP), compressible and plain pages.
 */
export class KitGuest {
  readonly memory: Uint8Array[];
  readonly pageSize: number;
  constructor(readonly layout: Layout) {
    this.pageSize = layout.pageSize;
    this.memory = layout.regions.map((r, ri) => {
      const m = new Uint8Array(r.sizeBytes);
      const pages = r.sizeBytes / layout.pageSize;
      for (let p = 0; p < pages; p++) this.fill(m.subarray(p * layout.pageSize, (p + 1) * layout.pageSize), ri, p);
      return m;
    });
  }

  private fill(page: Uint8Array, region: number, p: number): void {
    if (p % 4 === 3) return;
    const seed = p % 8 === 5 && p > 1 ? 1 : p;
    let x = (seed * 2654435761 + region * 97 + 1) >>> 0;
    for (let i = 0; i < page.byteLength; i += 4) {
      // Runs of 64 equal words: LZ4 compresses them, yet every page differs.
      if (i % 256 === 0) x = (x * 1103515245 + 12345) >>> 0;
      page[i] = x & 0xff;
      page[i + 1] = (x >>> 8) & 0xff;
      page[i + 2] = (x >>> 16) & 0xff;
      page[i + 3] = seed & 0xff;
    }
  }

  pagesIn(region: number): number {
    return this.layout.regions[region]!.sizeBytes / this.pageSize;
  }
  get totalPages(): number {
    return this.layout.regions.reduce((n, r) => n + r.sizeBytes / this.pageSize, 0);
  }
  page(region: number, p: number): Uint8Array {
    return this.memory[region]!.subarray(p * this.pageSize, (p + 1) * this.pageSize);
  }
  isZero(region: number, p: number): boolean {
    return this.page(region, p).every((b) => b === 0);
  }
  /** Page p of this region is a copy of page 1 (a DEDUP candidate). */
  isCopyOfPage1(p: number): boolean {
    return p % 8 === 5 && p > 1;
  }
  /** Changes `count` non-zero pages of every region (what a guest writes between rounds); returns them. */
  dirty(count: number, salt: number): { region: number; page: number }[] {
    const out: { region: number; page: number }[] = [];
    for (let r = 0; r < this.memory.length; r++) {
      for (let p = 0, n = 0; p < this.pagesIn(r) && n < count; p++) {
        if (this.isZero(r, p) || this.isCopyOfPage1(p) || p === 1) continue;
        const page = this.page(r, p);
        for (let i = 100; i < 164; i++) page[i] = (page[i]! + salt + i) & 0xff;
        out.push({ region: r, page: p });
        n++;
      }
    }
    return out;
  }

  /** The memory digest of §4: xxh64 over the u64le xxh64 of every page, regions in order. */
  digest(k: Kernels): bigint {
    return memoryDigest(k, this.memory, this.pageSize);
  }
}
