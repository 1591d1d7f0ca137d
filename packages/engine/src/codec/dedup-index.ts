/**
 * Finds a page already on the destination with the same content: page hash -> the page key
 * last sent with that hash. Bounded: past `maxEntries` the oldest entries are forgotten, so a
 * huge guest costs at most that much memory. The caller confirms a hit against its table of
 * hashes as sent, since the page may have been sent again with other content since.
 */
export class DedupIndex {
  private readonly byHash = new Map<number, number>();
  private readonly maxEntries: number;
  hits = 0;

  constructor(maxEntries: number) {
    this.maxEntries = maxEntries;
  }

  /** `hashKey`: 53 bits of the page hash as a number (no BigInt per page); callers confirm hits. */
  lookup(hashKey: number): number | undefined {
    return this.byHash.get(hashKey);
  }

  remember(hash: number, key: number): void {
    if (this.byHash.size >= this.maxEntries && !this.byHash.has(hash)) {
      // Maps iterate in insertion order: the first key is the oldest.
      const oldest = this.byHash.keys().next();
      if (!oldest.done) this.byHash.delete(oldest.value);
    }
    this.byHash.set(hash, key);
  }
}
