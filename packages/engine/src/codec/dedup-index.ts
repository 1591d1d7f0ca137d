/**
 * Finds a page already on the destination with the same content: 53 bits of the page hash ->
 * the page key last remembered with it. A direct-mapped table in typed arrays: one probe per
 * lookup, no allocation, no garbage, bounded memory (16 bytes a slot). A collision replaces
 * the slot, so the index forgets; it is a hint, and the caller confirms every hit against its
 * table of hashes as sent (the page may have been sent again with other content since).
 */
export class DedupIndex {
  private readonly mask: number;
  /** hashKey + 1 per slot; 0 is empty. */
  private readonly keys: Float64Array;
  private readonly pages: Float64Array;
  hits = 0;

  /** `slots` is rounded up to a power of two. */
  constructor(slots: number) {
    const size = 2 ** Math.ceil(Math.log2(Math.max(2, slots)));
    this.mask = size - 1;
    this.keys = new Float64Array(size);
    this.pages = new Float64Array(size);
  }

  /** `hashKey`: 53 bits of the page hash as a number (no BigInt per page). */
  lookup(hashKey: number): number | undefined {
    const slot = hashKey % (this.mask + 1);
    return this.keys[slot] === hashKey + 1 ? this.pages[slot] : undefined;
  }

  remember(hashKey: number, page: number): void {
    const slot = hashKey % (this.mask + 1);
    this.keys[slot] = hashKey + 1;
    this.pages[slot] = page;
  }
}
