import { ErrorCode, ProtocolError } from '../errors.ts';
import { readUtf8, utf8Length, writeUtf8 } from '../util/bytes.ts';

/**
 * A bounded position over a frame body. Every read checks the end first, so a decoder built on
 * it is total: it returns a value or throws a ProtocolError, and never reads past the frame.
 * All integers are little-endian.
 */
export class Cursor {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  offset: number;
  readonly end: number;

  constructor(bytes: Uint8Array, offset: number = 0, end: number = bytes.byteLength) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.offset = offset;
    this.end = end;
  }

  get remaining(): number {
    return this.end - this.offset;
  }

  need(byteCount: number, what: string): void {
    if (byteCount > this.end - this.offset) {
      throw new ProtocolError(ErrorCode.FRAME_TRUNCATED, `${what}: needs ${byteCount} bytes, ${this.end - this.offset} left`);
    }
  }

  u8(): number {
    this.need(1, 'u8');
    return this.view.getUint8(this.offset++);
  }
  u16(): number {
    this.need(2, 'u16');
    const v = this.view.getUint16(this.offset, true);
    this.offset += 2;
    return v;
  }
  u32(): number {
    this.need(4, 'u32');
    const v = this.view.getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }
  u64(): bigint {
    this.need(8, 'u64');
    const v = this.view.getBigUint64(this.offset, true);
    this.offset += 8;
    return v;
  }
  /** A u64 that must fit a JavaScript safe integer (sizes, byte counts). */
  u53(what: string): number {
    const v = this.u64();
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `${what} ${v} is too large`);
    }
    return Number(v);
  }
  /** A view (not a copy) of the next `length` bytes. */
  raw(length: number, what: string): Uint8Array {
    this.need(length, what);
    const out = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }
  /** A UTF-8 string prefixed by a u16 byte length, at most `maxBytes` long. */
  string16(maxBytes: number, what: string): string {
    const length = this.u16();
    if (length > maxBytes) {
      throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `${what} is ${length} bytes, limit ${maxBytes}`);
    }
    this.need(length, what);
    const s = readUtf8(this.bytes, this.offset, length);
    this.offset += length;
    return s;
  }
  /** Reserved fields must be zero so that a later version can give them meaning. */
  zero(byteCount: 1 | 2 | 4, what: string): void {
    const v = byteCount === 1 ? this.u8() : byteCount === 2 ? this.u16() : this.u32();
    if (v !== 0) throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `${what} must be zero, got ${v}`);
  }
  /** Decoders call this last: trailing bytes mean the peer and we disagree on the layout. */
  done(what: string): void {
    if (this.offset !== this.end) {
      throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `${what}: ${this.end - this.offset} trailing bytes`);
    }
  }

  setU8(v: number): void {
    this.view.setUint8(this.offset++, v);
  }
  setU16(v: number): void {
    this.view.setUint16(this.offset, v, true);
    this.offset += 2;
  }
  setU32(v: number): void {
    this.view.setUint32(this.offset, v, true);
    this.offset += 4;
  }
  setU64(v: bigint | number): void {
    this.view.setBigUint64(this.offset, BigInt(v), true);
    this.offset += 8;
  }
  setRaw(src: Uint8Array): void {
    this.bytes.set(src, this.offset);
    this.offset += src.byteLength;
  }
  setString16(s: string): void {
    const lengthAt = this.offset;
    this.offset += 2;
    const written = writeUtf8(this.bytes, this.offset, s);
    this.view.setUint16(lengthAt, written, true);
    this.offset += written;
  }
}

/** Encoded size of a string written with `setString16`. */
export function string16Bytes(s: string): number {
  return 2 + utf8Length(s);
}
