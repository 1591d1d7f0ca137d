import type { Kernels } from '../accel/kernels.ts';
import { DirtyBitmap } from '../dirty/bitmap.ts';
import { ErrorCode, IntegrityError, ProtocolError } from '../errors.ts';
import { digestOfPageHashes, hashMemorySparse } from '../memory/digest.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import { PageKeys } from '../memory/page-keys.ts';
import { ALL_ENCODINGS, PageEncoding } from '../protocol/constants.ts';
import { encodingNames } from './encodings.ts';
import type { PageBatch } from '../protocol/pages.ts';
import { toHex } from '../util/bytes.ts';
import { lz4DecompressPage } from './lz4.ts';
import { MemorySink, type PageSink } from './page-sink.ts';

/**
 * Applies PAGES batches to the destination's memory. A batch is checked whole (region, every
 * page index, every checksum against the bytes received) before any page is written, so a
 * corrupt batch changes nothing. Tracks which pages have arrived (for post-copy and resume)
 * and the hash of every page as written, so the memory digest at switchover costs one hash
 * of the table instead of a pass over all memory during downtime.
 */
export class BatchDecoder {
  private readonly memory: GuestMemory;
  private readonly kernels: Kernels;
  private readonly zeroPageHash: bigint;
  private readonly zeroLow: number;
  private readonly zeroHigh: number;
  private hashes = new BigUint64Array(256);
  private hashWords = new Uint32Array(this.hashes.buffer);
  private scratch: Buffer = Buffer.alloc(0);
  /** The memory itself, written in pre-copy and read for deltas and dedup references. */
  private readonly memorySink: MemorySink;
  /** Pages received at least once, per region. */
  readonly received: readonly DirtyBitmap[];
  /** xxh64 of every page as it is in memory now, regions back to back. */
  readonly pageHashes: BigUint64Array;
  private readonly pageHashWords: Uint32Array;
  private readonly keys: PageKeys;
  pagesApplied = 0;
  /** Where verified pages go: memory, or in post-copy the receiver that guards it. */
  sink: PageSink;
  private zeroPage: Buffer | undefined;
  /** The encodings this side announced in HELLO_ACCEPT (version 4); a batch with another is refused. */
  allowedEncodings: number = ALL_ENCODINGS;

  /**
   * `fresh`: the memory is known to be all zero (just allocated), so the hash table starts as
   * the zero-page hash; otherwise it starts from a scan of the memory as handed over.
   */
  constructor(memory: GuestMemory, kernels: Kernels, fresh: boolean) {
    this.memory = memory;
    this.kernels = kernels;
    this.zeroPageHash = kernels.xxh64(new Uint8Array(memory.pageSize));
    this.zeroLow = Number(this.zeroPageHash & 0xffff_ffffn);
    this.zeroHigh = Number(this.zeroPageHash >> 32n);
    this.memorySink = new MemorySink(memory);
    this.sink = this.memorySink;
    this.received = memory.regions.map((r) => new DirtyBitmap(r.pageCount));
    this.pageHashes = fresh
      ? new BigUint64Array(memory.totalPages).fill(this.zeroPageHash)
      : hashMemorySparse(memory, kernels, this.zeroPageHash);
    this.pageHashWords = new Uint32Array(this.pageHashes.buffer, this.pageHashes.byteOffset, this.pageHashes.length * 2);
    this.keys = new PageKeys(memory.layout);
  }

  /** The protocol's memory digest of the memory as written so far. */
  digest(): bigint {
    return digestOfPageHashes(this.pageHashes, this.kernels);
  }

  apply(batch: PageBatch): void {
    const region = this.memory.regions[batch.regionIndex];
    if (!region) {
      throw new ProtocolError(
        ErrorCode.PAGE_OUT_OF_RANGE,
        `PAGES for region ${batch.regionIndex}, guest has ${this.memory.regions.length}`,
      );
    }
    const unannounced = batch.encodings & ~this.allowedEncodings;
    if (unannounced !== 0) {
      throw new ProtocolError(
        ErrorCode.FRAME_MALFORMED,
        `PAGES uses page encoding ${encodingNames(unannounced).join(', ')}, which this destination did not announce in HELLO_ACCEPT`,
      );
    }
    for (let i = 0; i < batch.count; i++) {
      const page = batch.pageIndex(i);
      if (page >= region.pageCount) {
        throw new ProtocolError(
          ErrorCode.PAGE_OUT_OF_RANGE,
          `page ${page} is past the end of region "${region.name}" (${region.pageCount} pages)`,
        );
      }
    }
    if (batch.plain) this.applyPlain(batch);
    else this.applyEncoded(batch);
    this.pagesApplied += batch.count;
  }

  /** RAW and ZERO only: the payload is whole pages, hashed where they lie and copied once. */
  private applyPlain(batch: PageBatch): void {
    const ps = this.memory.pageSize;
    const rawCount = batch.payload.byteLength / ps;
    this.ensureHashes(rawCount);
    this.kernels.hashPages(batch.payload, ps, this.hashes);
    let raw = 0;
    for (let i = 0; i < batch.count; i++) {
      if (batch.encoding(i) === PageEncoding.RAW) this.checkChecksum(batch, i, raw++);
      else this.checkZeroChecksum(batch, i);
    }
    const payload = Buffer.from(batch.payload.buffer, batch.payload.byteOffset, batch.payload.byteLength);
    this.zeroPage ??= Buffer.alloc(ps);
    let at = 0;
    for (let i = 0; i < batch.count; i++) {
      if (batch.encoding(i) === PageEncoding.RAW) {
        this.deliver(batch, i, payload, at);
        at += ps;
      } else {
        this.deliver(batch, i, this.zeroPage, 0);
      }
    }
  }

  /**
   * Any encodings: every page is decoded into a scratch run first (a delta against the page as
   * held here, a dedup copy of another page held here, an LZ4 block), the run is hashed in one
   * pass and checked, and only then copied into memory.
   */
  private applyEncoded(batch: PageBatch): void {
    const ps = this.memory.pageSize;
    const count = batch.count;
    if (this.scratch.byteLength < count * ps) this.scratch = Buffer.allocUnsafeSlow(count * ps);
    const scratch = this.scratch;
    const src = this.memorySink.regions[batch.regionIndex]!;
    const payload = batch.payload;
    let at = 0;
    for (let i = 0; i < count; i++) {
      const page = batch.pageIndex(i);
      const length = batch.length(i);
      const data = payload.subarray(at, at + length);
      const dst = scratch.subarray(i * ps, (i + 1) * ps);
      switch (batch.encoding(i)) {
        case PageEncoding.RAW:
          dst.set(data);
          break;
        case PageEncoding.ZERO:
          dst.fill(0);
          break;
        case PageEncoding.LZ4:
          dst.set(lz4DecompressPage(data, ps));
          break;
        case PageEncoding.XBZRLE:
          src.copy(dst, 0, page * ps, page * ps + ps);
          this.kernels.xbzrleDecode(data, dst);
          break;
        case PageEncoding.DEDUP: {
          const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
          const r2 = view.getUint16(0, true);
          const p2 = view.getUint32(4, true);
          const other = this.memory.regions[r2];
          if (!other || view.getUint16(2, true) !== 0 || p2 >= other.pageCount || !this.received[r2]!.test(p2)) {
            throw new IntegrityError(
              ErrorCode.DECODE_FAILED,
              `page ${page}: DEDUP refers to region ${r2} page ${p2}, which this host never received`,
            );
          }
          this.memorySink.regions[r2]!.copy(dst, 0, p2 * ps, p2 * ps + ps);
          break;
        }
      }
      at += length;
    }
    this.ensureHashes(count);
    this.kernels.hashPages(scratch.subarray(0, count * ps), ps, this.hashes);
    for (let i = 0; i < count; i++) this.checkChecksum(batch, i, i);
    for (let i = 0; i < count; i++) this.deliver(batch, i, scratch, i * ps);
  }

  /** Entry `i`'s checksum against `hashes[h]`, compared as 32-bit halves (no BigInt per page). */
  private checkChecksum(batch: PageBatch, i: number, h: number): void {
    if (this.hashWords[2 * h] !== batch.checksumLow(i) || this.hashWords[2 * h + 1] !== batch.checksumHigh(i)) {
      this.mismatch(batch, i, this.hashes[h]!);
    }
  }

  private checkZeroChecksum(batch: PageBatch, i: number): void {
    if (batch.checksumLow(i) !== this.zeroLow || batch.checksumHigh(i) !== this.zeroHigh) this.mismatch(batch, i, this.zeroPageHash);
  }

  private mismatch(batch: PageBatch, i: number, actual: bigint): never {
    const region = this.memory.regions[batch.regionIndex]!;
    throw new IntegrityError(
      ErrorCode.CHECKSUM_MISMATCH,
      `page ${batch.pageIndex(i)} of region "${region.name}" (round ${batch.round}): checksum ${toHex(actual)}, sender said ${toHex(batch.checksum(i))}`,
    );
  }

  /** Entry `i`, verified, to the sink (unless it has the page already), and recorded. */
  private deliver(batch: PageBatch, i: number, src: Buffer, offset: number): void {
    const page = batch.pageIndex(i);
    if (!this.sink.wants(batch.regionIndex, page)) return;
    this.sink.write(batch.regionIndex, page, src, offset);
    this.record(batch, i);
  }

  private record(batch: PageBatch, i: number): void {
    const page = batch.pageIndex(i);
    this.received[batch.regionIndex]!.set(page);
    const at = 2 * this.keys.key(batch.regionIndex, page);
    this.pageHashWords[at] = batch.checksumLow(i);
    this.pageHashWords[at + 1] = batch.checksumHigh(i);
  }

  private ensureHashes(count: number): void {
    if (this.hashes.length < count) {
      this.hashes = new BigUint64Array(count);
      this.hashWords = new Uint32Array(this.hashes.buffer);
    }
  }
}
