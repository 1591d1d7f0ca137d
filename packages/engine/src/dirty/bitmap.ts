import { ErrorCode, ProtocolError, UsageError } from '../errors.ts';

/**
 * One bit per page in 32-bit words: bit `i` is bit `i & 31` of word `i >>> 5`. On a
 * little-endian host this is bit-for-bit the layout of a KVM dirty log (u64 LE words), so a
 * hypervisor's log can be wrapped without conversion. The words may live in a
 * SharedArrayBuffer; only `takeFrom` and the write barrier touch shared words, with Atomics.
 */
export class DirtyBitmap {
  readonly bitCount: number;
  readonly words: Uint32Array;

  constructor(bitCount: number, words?: Uint32Array) {
    if (!Number.isSafeInteger(bitCount) || bitCount < 0) {
      throw new UsageError(ErrorCode.INVALID_ARGUMENT, `bit count ${bitCount} is not a non-negative integer`);
    }
    const wordCount = Math.ceil(bitCount / 32);
    if (words && words.length < wordCount) {
      throw new UsageError(ErrorCode.INVALID_ARGUMENT, `${words.length} words cannot hold ${bitCount} bits`);
    }
    this.bitCount = bitCount;
    this.words = words ?? new Uint32Array(wordCount);
  }

  /** A bitmap whose words live in shared memory, for a guest in another thread to mark. */
  static shared(bitCount: number): DirtyBitmap {
    return new DirtyBitmap(bitCount, new Uint32Array(new SharedArrayBuffer(Math.ceil(bitCount / 32) * 4)));
  }

  set(i: number): void {
    this.words[i >>> 5]! |= 1 << (i & 31);
  }
  clear(i: number): void {
    this.words[i >>> 5]! &= ~(1 << (i & 31));
  }
  test(i: number): boolean {
    return (this.words[i >>> 5]! & (1 << (i & 31))) !== 0;
  }

  /** Sets every valid bit (the first round of pre-copy sends everything). */
  fill(): void {
    this.words.fill(0xffff_ffff);
    const tail = this.bitCount & 31;
    if (tail !== 0) this.words[this.words.length - 1] = (1 << tail) - 1;
  }

  clearAll(): void {
    this.words.fill(0);
  }

  count(): number {
    let n = 0;
    const w = this.words;
    for (let i = 0; i < w.length; i++) {
      let v = w[i]!;
      if (v === 0) continue;
      v -= (v >>> 1) & 0x5555_5555;
      v = (v & 0x3333_3333) + ((v >>> 2) & 0x3333_3333);
      n += (((v + (v >>> 4)) & 0x0f0f_0f0f) * 0x0101_0101) >>> 24;
    }
    return n;
  }

  /** Index of the first set bit at or after `from`, or -1. Skips empty words whole. */
  nextSet(from: number): number {
    if (from >= this.bitCount) return -1;
    const w = this.words;
    let wi = from >>> 5;
    let v = w[wi]! & (0xffff_ffff << (from & 31));
    while (v === 0) {
      wi++;
      if (wi >= w.length) return -1;
      v = w[wi]!;
    }
    const i = (wi << 5) + (31 - Math.clz32(v & -v));
    return i < this.bitCount ? i : -1;
  }

  /**
   * Moves every set bit of `source` (shared, written concurrently) into this bitmap and clears
   * it there, one atomic exchange per non-empty word, so a bit set at any moment lands either
   * in this take or the next one, never in neither. Returns the number of bits taken.
   */
  takeFrom(source: DirtyBitmap): number {
    return this.takeWordsFrom(source, 0, Math.min(source.words.length, this.words.length));
  }

  /** `takeFrom` limited to words `[fromWord, toWord)`: bits `32 * fromWord` up to `32 * toWord`. */
  takeWordsFrom(source: DirtyBitmap, fromWord: number, toWord: number): number {
    const src = source.words;
    const dst = this.words;
    const n = Math.min(toWord, src.length, dst.length);
    let taken = 0;
    for (let i = fromWord; i < n; i++) {
      // A plain read first: most words of a sparse bitmap are zero and need no atomic.
      if (src[i] === 0) continue;
      const v = Atomics.exchange(src, i, 0);
      dst[i]! |= v;
      if (v !== 0) taken += popcount32(v);
    }
    return taken;
  }

  /**
   * Run-length form for the wire: ULEB128 lengths of alternating runs of clear and set bits,
   * starting with a (possibly empty) clear run, covering exactly `bitCount` bits. A sparse or
   * dense bitmap of a 1 TiB guest (2^28 pages) takes a few bytes per run instead of 32 MiB.
   */
  toRuns(): Uint8Array {
    const out: number[] = [];
    let at = 0;
    let want = true; // the run being measured ends at the next bit equal to `want`
    while (at < this.bitCount) {
      const next = want ? this.nextSet(at) : this.nextClear(at);
      const end = next < 0 ? this.bitCount : next;
      pushUleb(out, end - at);
      at = end;
      want = !want;
    }
    return Uint8Array.from(out);
  }

  /** Parses `toRuns` output; a malformed or over-long encoding is a ProtocolError. */
  static fromRuns(bitCount: number, runs: Uint8Array): DirtyBitmap {
    const b = new DirtyBitmap(bitCount);
    let at = 0;
    let set = false;
    let i = 0;
    while (i < runs.length) {
      let len = 0;
      let shift = 0;
      let byte: number;
      do {
        if (i >= runs.length || shift > 28)
          throw new ProtocolError(ErrorCode.FRAME_MALFORMED, 'bitmap run length is truncated or too long');
        byte = runs[i++]!;
        len += (byte & 0x7f) * 2 ** shift;
        shift += 7;
      } while (byte & 0x80);
      if (at + len > bitCount) throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `bitmap runs cover more than ${bitCount} bits`);
      if (set) b.setRange(at, at + len);
      at += len;
      set = !set;
    }
    if (at !== bitCount) throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `bitmap runs cover ${at} of ${bitCount} bits`);
    return b;
  }

  /** Index of the first clear bit at or after `from`, or -1. Skips full words whole. */
  nextClear(from: number): number {
    if (from >= this.bitCount) return -1;
    const w = this.words;
    let wi = from >>> 5;
    let v = ~w[wi]! & (0xffff_ffff << (from & 31));
    while (v === 0) {
      wi++;
      if (wi >= w.length) return -1;
      v = ~w[wi]!;
    }
    const i = (wi << 5) + (31 - Math.clz32(v & -v));
    return i < this.bitCount ? i : -1;
  }

  /** Clears bits `[from, to)`, whole words at a time in the middle. */
  clearRange(from: number, to: number): void {
    let i = from;
    while (i < to && (i & 31) !== 0) this.clear(i++);
    while (i + 32 <= to) {
      this.words[i >>> 5] = 0;
      i += 32;
    }
    while (i < to) this.clear(i++);
  }

  /** Union: sets every bit set in `other` (of the same size); returns how many were newly set. */
  or(other: DirtyBitmap): number {
    this.checkSameSize(other);
    const a = this.words;
    const b = other.words;
    let added = 0;
    for (let i = 0; i < a.length; i++) {
      const v = b[i]!;
      if (v === 0) continue;
      added += popcount32(v & ~a[i]!);
      a[i]! |= v;
    }
    return added;
  }

  private checkSameSize(other: DirtyBitmap): void {
    if (other.bitCount !== this.bitCount) {
      throw new UsageError(ErrorCode.INVALID_ARGUMENT, `bitmaps of ${this.bitCount} and ${other.bitCount} bits cannot be combined`);
    }
  }

  /** Sets bits `[from, to)`, whole words at a time in the middle. */
  setRange(from: number, to: number): void {
    let i = from;
    while (i < to && (i & 31) !== 0) this.set(i++);
    while (i + 32 <= to) {
      this.words[i >>> 5] = 0xffff_ffff;
      i += 32;
    }
    while (i < to) this.set(i++);
  }
}

export function popcount32(x: number): number {
  let v = x - ((x >>> 1) & 0x5555_5555);
  v = (v & 0x3333_3333) + ((v >>> 2) & 0x3333_3333);
  return (((v + (v >>> 4)) & 0x0f0f_0f0f) * 0x0101_0101) >>> 24;
}

function pushUleb(out: number[], value: number): void {
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
}
