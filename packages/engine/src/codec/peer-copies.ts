/**
 * The source's record of what the destination holds: the hash of each page as last sent to it
 * (the zero page's until sent, as the destination starts zeroed), and which pages' copies are
 * unknown because a connection broke with them in flight. DEDUP references and the digest of
 * the pages as sent read it; a page of unknown copy is never referenced until it is sent again.
 */
export class PeerCopies {
  /** The hash of every page as the destination holds it, by page key. */
  readonly hashes: BigUint64Array;
  /** The same hashes as 32-bit halves, so the hot path makes no BigInt. */
  private readonly words: Uint32Array;
  private readonly unsure: Uint32Array;

  constructor(totalPages: number, zeroPageHash: bigint) {
    this.hashes = new BigUint64Array(totalPages).fill(zeroPageHash);
    this.words = new Uint32Array(this.hashes.buffer);
    this.unsure = new Uint32Array(Math.ceil(totalPages / 32));
  }

  /** Page `key` was sent with the hash (lo, hi): the destination will hold exactly that. */
  sent(key: number, lo: number, hi: number): void {
    this.words[2 * key] = lo;
    this.words[2 * key + 1] = hi;
    this.unsure[key >>> 5]! &= ~(1 << (key & 31));
  }

  /** Whether the destination's copy of page `key` is known to hash to (lo, hi). */
  holds(key: number, lo: number, hi: number): boolean {
    return this.words[2 * key] === lo && this.words[2 * key + 1] === hi && (this.unsure[key >>> 5]! & (1 << (key & 31))) === 0;
  }

  /** The destination's copy of page `key` is unknown until it is sent again. */
  forget(key: number): void {
    this.unsure[key >>> 5]! |= 1 << (key & 31);
  }
}
