/**
 * The source's cache of page contents as last sent, the base for XBZRLE deltas (QEMU's
 * xbzrle-cache-size). Direct-mapped: page key k lives in slot k mod slots, so a lookup is one
 * compare and an insert never allocates. A page whose slot was taken by another page is a
 * miss; the slot changing hands counts as an overflow.
 */
export class PageCache {
  readonly pageSize: number;
  readonly slots: number;
  private readonly keys: Float64Array;
  private readonly data: Uint8Array;
  hits = 0;
  misses = 0;
  overflows = 0;

  constructor(cacheBytes: number, pageSize: number) {
    this.pageSize = pageSize;
    this.slots = Math.max(1, Math.floor(cacheBytes / pageSize));
    this.keys = new Float64Array(this.slots).fill(-1);
    this.data = new Uint8Array(this.slots * pageSize);
  }

  /** The cached content of page `key`, or undefined (counted as a hit or a miss). */
  get(key: number): Uint8Array | undefined {
    const slot = key % this.slots;
    if (this.keys[slot] !== key) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    return this.data.subarray(slot * this.pageSize, (slot + 1) * this.pageSize);
  }

  put(key: number, content: Uint8Array): void {
    const slot = key % this.slots;
    const held = this.keys[slot]!;
    if (held !== key && held !== -1) this.overflows++;
    this.keys[slot] = key;
    this.data.set(content, slot * this.pageSize);
  }

  /** Forgets page `key` (it was sent as ZERO, so the destination's copy is no longer the cached one). */
  drop(key: number): void {
    const slot = key % this.slots;
    if (this.keys[slot] === key) this.keys[slot] = -1;
  }
}
