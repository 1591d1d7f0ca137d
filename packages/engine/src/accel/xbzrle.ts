import { ErrorCode, IntegrityError, UsageError } from '../errors.ts';

/**
 * XBZRLE page deltas, byte-compatible with QEMU's `migration/xbzrle.c`; the TypeScript twin of
 * `packages/native/src/xbzrle.rs`, which a parity test holds to the same bytes.
 *
 * A delta of `cur` against `old` (two pages of one length) is a sequence of pairs
 *
 * ```text
 * delta = ( zrun nzrun )*          zrun  = len             nzrun = len byte{len}
 * len   = 0xxxxxxx (0..127) | 1xxxxxxx 0xxxxxxx (low 7 bits first; up to 16383)
 * ```
 *
 * A zero run keeps `len` bytes of the old page; a literal run (nzrun) replaces the next `len`
 * bytes with the bytes that follow it. Trailing unchanged bytes are not encoded, so an
 * unchanged page is the empty delta.
 *
 * Decoding accepts exactly what QEMU's `xbzrle_decode_buffer` accepts: a run length is one or
 * two bytes (a second byte with its top bit set is an error, so lengths stop at 16383); at
 * least 2 bytes must remain wherever a run length starts; only the first zero run may be
 * empty; a literal run may not be empty; no run may go past the page or the delta. The
 * two-byte form of a small length (`81 00`) is accepted, as QEMU does, though never written.
 *
 * Encoding writes what QEMU's `xbzrle_encode_buffer` writes: alternating maximal runs (one
 * unchanged byte between two changes is a zero run of 1), the first zero run written even when
 * empty. QEMU never encodes a run over 16383 bytes (its pages are smaller); on larger pages a
 * zero run ends after 16383 bytes and the literal run starts at the next, unchanged, byte, and
 * 16384 or more changed bytes in a row cannot be expressed at all.
 */

/** The longest run one run length can express (14 bits). */
export const XBZRLE_MAX_RUN = 0x3fff;

/** Literal runs at least this long are copied with `set` (one subarray view) rather than a loop. */
const BULK_COPY_BYTES = 64;

/**
 * Writes the XBZRLE delta of `cur` against `old` to the start of `out` and returns its length;
 * 0 when the pages are equal. Returns -1, with `out` partly written, if the delta is longer
 * than `out.byteLength` or cannot be expressed (16384 or more changed bytes in a row).
 *
 * `old` and `cur` must be Uint8Arrays of the same length, and `out` a Uint8Array that overlaps
 * neither (else the result is garbage); any may be a view of a SharedArrayBuffer. Compares
 * 32-bit words where `old` and `cur` are equally aligned. Allocates nothing, except one
 * subarray view per literal run of 64 bytes or more.
 */
export function xbzrleEncode(old: Uint8Array, cur: Uint8Array, out: Uint8Array): number {
  checkXbzrleEncodeArgs(old, cur, out);
  const len = cur.length;
  const capacity = out.length;
  const oldWords = old.byteOffset % 4 === cur.byteOffset % 4 ? wordsOf(old) : null;
  const curWords = oldWords === null ? null : wordsOf(cur);
  let written = 0;
  let at = 0;
  for (;;) {
    const zrunStart = at;
    const changed = skipEqual(old, cur, oldWords, curWords, at);
    if (changed === len) return written;
    // An unchanged stretch longer than a run length can say ends the zero run early; the
    // literal run then starts with an unchanged byte.
    const literalStart = Math.min(changed, zrunStart + XBZRLE_MAX_RUN);
    const literalEnd = skipDifferent(old, cur, oldWords, curWords, literalStart + 1);
    const literalLen = literalEnd - literalStart;
    if (literalLen > XBZRLE_MAX_RUN) return -1;
    const zrunLen = literalStart - zrunStart;
    const end = written + lenSize(zrunLen) + lenSize(literalLen) + literalLen;
    if (end > capacity) return -1;
    written = putLen(out, written, zrunLen);
    written = putLen(out, written, literalLen);
    if (literalLen < BULK_COPY_BYTES) {
      for (let i = literalStart; i < literalEnd; i++) out[written++] = cur[i]!;
    } else {
      out.set(cur.subarray(literalStart, literalEnd), written);
      written = end;
    }
    at = literalEnd;
  }
}

/**
 * Applies the XBZRLE delta `delta` to `page`, which holds the old content, in place. Checks
 * the whole delta before writing anything: if QEMU's decoder would reject it, this throws an
 * `IntegrityError` coded `FERRY_DECODE_FAILED` (the message says why and at which delta byte)
 * and `page` is untouched. Never writes outside `page`, and allocates nothing but one subarray
 * view per literal run of 64 bytes or more. `delta` must not overlap `page`.
 */
export function xbzrleDecode(delta: Uint8Array, page: Uint8Array): void {
  checkXbzrleDecodeArgs(delta, page);
  walk(delta, page, false);
  walk(delta, page, true);
}

/** Checks the arguments of `xbzrleEncode` (both kernels call it first). */
export function checkXbzrleEncodeArgs(old: Uint8Array, cur: Uint8Array, out: Uint8Array): void {
  if (!(old instanceof Uint8Array)) throw invalid('old must be a Uint8Array');
  if (!(cur instanceof Uint8Array)) throw invalid('cur must be a Uint8Array');
  if (!(out instanceof Uint8Array)) throw invalid('out must be a Uint8Array');
  if (old.byteLength !== cur.byteLength) {
    throw invalid(`old and cur must have the same byteLength, got ${old.byteLength} and ${cur.byteLength}`);
  }
}

/** Checks the arguments of `xbzrleDecode` (both kernels call it first). */
export function checkXbzrleDecodeArgs(delta: Uint8Array, page: Uint8Array): void {
  if (!(delta instanceof Uint8Array)) throw invalid('delta must be a Uint8Array');
  if (!(page instanceof Uint8Array)) throw invalid('page must be a Uint8Array');
}

/**
 * Walks `delta` over `page`, checking every run the way QEMU's decoder does, and if `apply`
 * copies each literal run into `page`. Returns how many page bytes the delta covers.
 */
function walk(delta: Uint8Array, page: Uint8Array, apply: boolean): number {
  const end = delta.length;
  const pageLen = page.length;
  let at = 0;
  let covered = 0;
  while (at < end) {
    const zrun = readLen(delta, at);
    const zrunLen = zrun & 0xffff;
    if (zrunLen === 0 && at !== 0) throw decodeFailed(at, 'an empty zero run after the first');
    if (zrunLen > pageLen - covered) throw decodeFailed(at, 'a zero run past the end of the page');
    covered += zrunLen;
    at += zrun >>> 16;
    const literal = readLen(delta, at);
    const literalLen = literal & 0xffff;
    const from = at + (literal >>> 16);
    if (literalLen === 0) throw decodeFailed(at, 'an empty literal run');
    if (literalLen > pageLen - covered) throw decodeFailed(at, 'a literal run past the end of the page');
    if (literalLen > end - from) throw decodeFailed(at, 'a literal run past the end of the delta');
    if (apply) {
      if (literalLen < BULK_COPY_BYTES) {
        for (let i = 0; i < literalLen; i++) page[covered + i] = delta[from + i]!;
      } else {
        page.set(delta.subarray(from, from + literalLen), covered);
      }
    }
    covered += literalLen;
    at = from + literalLen;
  }
  return covered;
}

/**
 * Reads the run length at `delta[at]`: the length in the low 16 bits, and how many bytes it
 * took (1 or 2) above them.
 */
function readLen(delta: Uint8Array, at: number): number {
  if (delta.length - at < 2) throw decodeFailed(at, 'fewer than 2 bytes left for a run');
  const low = delta[at]!;
  if (low < 0x80) return low | (1 << 16);
  const high = delta[at + 1]!;
  if (high >= 0x80) throw decodeFailed(at, 'a run length longer than 2 bytes');
  return (low & 0x7f) | (high << 7) | (2 << 16);
}

/** Writes run length `value` (at most `XBZRLE_MAX_RUN`) at `out[at]`; returns the end. */
function putLen(out: Uint8Array, at: number, value: number): number {
  if (value < 0x80) {
    out[at] = value;
    return at + 1;
  }
  out[at] = (value & 0x7f) | 0x80;
  out[at + 1] = value >>> 7;
  return at + 2;
}

function lenSize(value: number): number {
  return value < 0x80 ? 1 : 2;
}

/**
 * The first index `>= from` where `old` and `cur` differ, or their length. With word views
 * (only when the two are equally aligned), goes a 32-bit word at a time between the bytes up
 * to the first aligned word and the bytes of the first differing word.
 */
function skipEqual(old: Uint8Array, cur: Uint8Array, oldWords: Int32Array | null, curWords: Int32Array | null, from: number): number {
  const len = old.length;
  let at = from;
  if (oldWords !== null && curWords !== null) {
    const oldOffset = old.byteOffset;
    while (at < len && (oldOffset + at) % 4 !== 0) {
      if (old[at] !== cur[at]) return at;
      at++;
    }
    let o = (oldOffset + at) / 4;
    let c = (cur.byteOffset + at) / 4;
    const oEnd = o + Math.floor((len - at) / 4);
    while (
      o + 4 <= oEnd &&
      oldWords[o] === curWords[c] &&
      oldWords[o + 1] === curWords[c + 1] &&
      oldWords[o + 2] === curWords[c + 2] &&
      oldWords[o + 3] === curWords[c + 3]
    ) {
      o += 4;
      c += 4;
    }
    while (o < oEnd && oldWords[o] === curWords[c]) {
      o++;
      c++;
    }
    at = o * 4 - oldOffset;
  }
  while (at < len && old[at] === cur[at]) at++;
  return at;
}

/**
 * The first index `>= from` where `old` and `cur` are equal, or their length; word at a time
 * like `skipEqual`, a word with an equal byte found by the has-a-zero-byte trick on the XOR.
 */
function skipDifferent(old: Uint8Array, cur: Uint8Array, oldWords: Int32Array | null, curWords: Int32Array | null, from: number): number {
  const len = old.length;
  let at = from;
  if (oldWords !== null && curWords !== null) {
    const oldOffset = old.byteOffset;
    while (at < len && (oldOffset + at) % 4 !== 0) {
      if (old[at] === cur[at]) return at;
      at++;
    }
    let o = (oldOffset + at) / 4;
    let c = (cur.byteOffset + at) / 4;
    const oEnd = o + Math.floor((len - at) / 4);
    while (o < oEnd) {
      const x = oldWords[o]! ^ curWords[c]!;
      if (((x - 0x0101_0101) & ~x & 0x8080_8080) !== 0) break;
      o++;
      c++;
    }
    at = o * 4 - oldOffset;
  }
  while (at < len && old[at] !== cur[at]) at++;
  return at;
}

/** One Int32Array over each buffer seen, so a call allocates no views; weakly held. */
const wordViews = new WeakMap<ArrayBufferLike, Int32Array>();

/** A 32-bit word view of all of `bytes.buffer` that covers every whole word of `bytes`. */
function wordsOf(bytes: Uint8Array): Int32Array {
  const buffer = bytes.buffer;
  const needed = Math.floor((bytes.byteOffset + bytes.byteLength) / 4);
  let words = wordViews.get(buffer);
  if (words === undefined || words.length < needed) {
    words = new Int32Array(buffer, 0, Math.floor(buffer.byteLength / 4));
    wordViews.set(buffer, words);
  }
  return words;
}

function decodeFailed(at: number, reason: string): IntegrityError {
  return new IntegrityError(ErrorCode.DECODE_FAILED, `invalid XBZRLE delta: ${reason} at delta byte ${at}`);
}

function invalid(message: string): UsageError {
  return new UsageError(ErrorCode.INVALID_ARGUMENT, message);
}
