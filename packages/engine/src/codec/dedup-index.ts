/**
 * Finds a page already on the destination with the same content: page hash -> the page key
 * last sent with that hash. Bounded: past `maxEntries` the oldest entries are forgotten, so a
 * huge guest costs at most that much memory. The caller confirms a hit against its table of
 * hashes as sent, since the page may have been sent again with other content since.
 */
export class DedupIndex {
  private readonly byHash = new Map<bigint, number>();
  private readonly maxEntries: number;
  hits = 0;

  constructor(maxEntries: number) {
    this.maxEntries = maxEntries;
  }

  lookup(hash: bigint): number | undefined {
    return this.byHash.get(hash);
  }

  remember(hash: bigint, key: number): void {
    if (this.byHash.size >= this.maxEntries && !this.byHash.has(hash)) {
      // Maps iterate in insertion order: the first key is the oldest.
      const oldest = this.byHash.keys().next();
      if (!oldest.done) this.byHash.delete(oldest.value);
    }
    this.byHash.set(hash, key);
  }
}
