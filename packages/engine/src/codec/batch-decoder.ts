import type { Kernels } from '../accel/kernels.ts';
import { DirtyBitmap } from '../dirty/bitmap.ts';
import { ErrorCode, IntegrityError, ProtocolError } from '../errors.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import { PageEncoding } from '../protocol/constants.ts';
import type { PageBatch } from '../protocol/pages.ts';
import { toHex } from '../util/bytes.ts';

/**
 * Applies PAGES batches to the destination's memory. A batch is checked whole (region, every
 * page index, every checksum against the bytes received) before any page is written, so a
 * corrupt batch changes nothing. Tracks which pages have arrived, for post-copy and resume.
 */
export class BatchDecoder {
  private readonly memory: GuestMemory;
  private readonly kernels: Kernels;
  private readonly zeroPageHash: bigint;
  private hashes = new BigUint64Array(256);
  private readonly regionBuffers: Buffer[];
  /** Pages received at least once, per region. */
  readonly received: readonly DirtyBitmap[];
  pagesApplied = 0;

  constructor(memory: GuestMemory, kernels: Kernels) {
    this.memory = memory;
    this.kernels = kernels;
    this.zeroPageHash = kernels.xxh64(new Uint8Array(memory.pageSize));
    this.regionBuffers = memory.regions.map((r) => Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength));
    this.received = memory.regions.map((r) => new DirtyBitmap(r.pageCount));
  }

  apply(batch: PageBatch): void {
    const ps = this.memory.pageSize;
    const region = this.memory.regions[batch.regionIndex];
    if (!region) {
      throw new ProtocolError(ErrorCode.PAGE_OUT_OF_RANGE, `PAGES for region ${batch.regionIndex}, guest has ${this.memory.regions.length}`);
    }
    const rawCount = batch.payload.byteLength / ps;
    if (this.hashes.length < rawCount) this.hashes = new BigUint64Array(rawCount);
    this.kernels.hashPages(batch.payload, ps, this.hashes);

    let raw = 0;
    for (let i = 0; i < batch.count; i++) {
      const page = batch.pageIndex(i);
      if (page >= region.pageCount) {
        throw new ProtocolError(ErrorCode.PAGE_OUT_OF_RANGE, `page ${page} is past the end of region "${region.name}" (${region.pageCount} pages)`);
      }
      const expected = batch.checksum(i);
      const actual = batch.encoding(i) === PageEncoding.RAW ? this.hashes[raw++]! : this.zeroPageHash;
      if (actual !== expected) {
        throw new IntegrityError(
          ErrorCode.CHECKSUM_MISMATCH,
          `page ${page} of region "${region.name}" (round ${batch.round}): checksum ${toHex(actual)}, sender said ${toHex(expected)}`,
        );
      }
    }

    const dst = this.regionBuffers[batch.regionIndex]!;
    const payload = Buffer.from(batch.payload.buffer, batch.payload.byteOffset, batch.payload.byteLength);
    const received = this.received[batch.regionIndex]!;
    let at = 0;
    for (let i = 0; i < batch.count; i++) {
      const page = batch.pageIndex(i);
      if (batch.encoding(i) === PageEncoding.RAW) {
        payload.copy(dst, page * ps, at, at + ps);
        at += ps;
      } else {
        dst.fill(0, page * ps, page * ps + ps);
      }
      received.set(page);
    }
    this.pagesApplied += batch.count;
  }
}
