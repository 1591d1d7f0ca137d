/** Which pages a post-copy destination holds: shared bits the guest's threads can wait on. */
import { DirtyBitmap } from '../dirty/bitmap.ts';

/**
 * Which pages of each region the destination holds during post-copy: one bit per page in
 * shared 32-bit words (bit `i` of word `i >>> 5`), set once the page has arrived. The engine
 * sets bits with `Atomics.or` after writing the page and wakes waiters with `Atomics.notify`
 * on that word, so a guest thread can block in `Atomics.wait` until its page is here.
 */
export class PresenceMap {
  readonly regions: readonly Int32Array[];
  private readonly pageCounts: readonly number[];

  /** All pages present; `markMissing` then clears what the source says is not here yet. */
  constructor(pageCounts: readonly number[]) {
    this.pageCounts = pageCounts;
    this.regions = pageCounts.map((n) => {
      const words = new Int32Array(new SharedArrayBuffer(Math.ceil(n / 32) * 4));
      words.fill(-1);
      // No bits past the last page: they would count as pages here.
      if (n % 32 !== 0) words[words.length - 1] = -1 >>> (32 - (n % 32));
      return words;
    });
  }

  /** The shared buffers, for a guest's `PostcopyPager`. */
  sharedBuffers(): SharedArrayBuffer[] {
    return this.regions.map((w) => w.buffer as SharedArrayBuffer);
  }

  has(region: number, page: number): boolean {
    return (Atomics.load(this.regions[region]!, page >>> 5) & (1 << (page & 31))) !== 0;
  }

  /**
   * Marks the set bits of `missing` (pages `firstPage ..`) as not here, returning how many.
   * Before the guest runs only. Word at a time when `firstPage` is a multiple of 32 (as the
   * reference source sends): the downtime must not grow with the guest's size.
   */
  markMissing(region: number, firstPage: number, missing: DirtyBitmap): number {
    const words = this.regions[region]!;
    if ((firstPage & 31) === 0) {
      const base = firstPage >>> 5;
      const src = missing.words;
      for (let w = 0; w < src.length; w++) if (src[w] !== 0) words[base + w]! &= ~src[w]!;
      return missing.count();
    }
    let n = 0;
    for (let i = missing.nextSet(0); i >= 0; i = missing.nextSet(i + 1)) {
      const page = firstPage + i;
      words[page >>> 5]! &= ~(1 << (page & 31));
      n++;
    }
    return n;
  }

  /** Marks a page as here and wakes every thread waiting on its word. */
  markPresent(region: number, page: number): void {
    const words = this.regions[region]!;
    Atomics.or(words, page >>> 5, 1 << (page & 31));
    Atomics.notify(words, page >>> 5);
  }

  /** Pages still missing, per region (a count over the words: for reports, not the hot path). */
  missingPages(): number {
    let n = 0;
    for (let r = 0; r < this.regions.length; r++) {
      const b = new DirtyBitmap(this.pageCounts[r]!, new Uint32Array(this.regions[r]!.buffer));
      n += this.pageCounts[r]! - b.count();
    }
    return n;
  }
}
