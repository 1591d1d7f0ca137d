import type { MemoryLayout } from './layout.ts';

/**
 * A guest's pages numbered across its regions: page `p` of region `r` has the global key
 * `first(r) + p`. Sent-page hashes, the digest, striping over channels and presence maps are
 * all indexed by it.
 */
export class PageKeys {
  private readonly firstKeys: Uint32Array;
  /** Pages in the whole guest. */
  readonly total: number;

  constructor(layout: MemoryLayout) {
    this.firstKeys = new Uint32Array(layout.regions.length);
    let key = 0;
    layout.regions.forEach((r, i) => {
      this.firstKeys[i] = key;
      key += r.sizeBytes / layout.pageSize;
    });
    this.total = key;
  }

  /** The key of region `region`'s first page. */
  first(region: number): number {
    return this.firstKeys[region]!;
  }

  /** The key of page `page` of region `region`. */
  key(region: number, page: number): number {
    return this.firstKeys[region]! + page;
  }

  /** The region and page of global key `key` (a key below `total`). */
  locate(key: number): [region: number, page: number] {
    let r = this.firstKeys.length - 1;
    while (this.firstKeys[r]! > key) r--;
    return [r, key - this.firstKeys[r]!];
  }
}
