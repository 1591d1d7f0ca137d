/**
 * A growable little-endian writer and a bounded reader. The kit writes every message by hand
 * (not through the engine's codecs) so that a scenario can put any value in any field,
 * including the ones the protocol forbids.
 */
export class Writer {
  private buf = Buffer.alloc(256);
  private n = 0;

  private room(bytes: number): void {
    if (this.n + bytes <= this.buf.byteLength) return;
    const next = Buffer.alloc(Math.max(this.buf.byteLength * 2, this.n + bytes));
    this.buf.copy(next, 0, 0, this.n);
    this.buf = next;
  }
  u8(v: number): this {
    this.room(1);
    this.buf.writeUInt8(v, this.n);
    this.n += 1;
    return this;
  }
  u16(v: number): this {
    this.room(2);
    this.buf.writeUInt16LE(v, this.n);
    this.n += 2;
    return this;
  }
  u32(v: number): this {
    this.room(4);
    this.buf.writeUInt32LE(v >>> 0, this.n);
    this.n += 4;
    return this;
  }
  u64(v: number | bigint): this {
    this.room(8);
    this.buf.writeBigUInt64LE(BigInt(v), this.n);
    this.n += 8;
    return this;
  }
  raw(bytes: Uint8Array): this {
    this.room(bytes.byteLength);
    this.buf.set(bytes, this.n);
    this.n += bytes.byteLength;
    return this;
  }
  /** u16 byte length, then UTF-8. */
  str(s: string): this {
    const b = Buffer.from(s, 'utf8');
    return this.u16(b.byteLength).raw(b);
  }
  bytes(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.n));
  }
}

/** Reads a body; every read past the end throws, so a malformed peer message becomes a failed check. */
export class Reader {
  offset = 0;
  constructor(readonly bytes: Uint8Array) {}
  private view(): DataView {
    return new DataView(this.bytes.buffer, this.bytes.byteOffset, this.bytes.byteLength);
  }
  private need(n: number, what: string): void {
    if (this.offset + n > this.bytes.byteLength) {
      throw new Error(`${what}: needs ${n} bytes at offset ${this.offset}, body has ${this.bytes.byteLength}`);
    }
  }
  u8(what = 'u8'): number {
    this.need(1, what);
    return this.view().getUint8(this.offset++);
  }
  u16(what = 'u16'): number {
    this.need(2, what);
    const v = this.view().getUint16(this.offset, true);
    this.offset += 2;
    return v;
  }
  u32(what = 'u32'): number {
    this.need(4, what);
    const v = this.view().getUint32(this.offset, true);
    this.offset += 4;
    return v;
  }
  u64(what = 'u64'): bigint {
    this.need(8, what);
    const v = this.view().getBigUint64(this.offset, true);
    this.offset += 8;
    return v;
  }
  raw(n: number, what = 'bytes'): Uint8Array {
    this.need(n, what);
    const v = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }
  str(what = 'string'): string {
    const n = this.u16(what);
    return Buffer.from(this.raw(n, what)).toString('utf8');
  }
  get remaining(): number {
    return this.bytes.byteLength - this.offset;
  }
  /** A body with bytes left after its last field is malformed (§2). */
  done(what: string): void {
    if (this.remaining !== 0) throw new Error(`${what}: ${this.remaining} bytes left over after the last field`);
  }
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}
