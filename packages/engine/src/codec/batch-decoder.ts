import type { Kernels } from '../accel/kernels.ts';
import { DirtyBitmap } from '../dirty/bitmap.ts';
import { ErrorCode, IntegrityError, ProtocolError } from '../errors.ts';
import { digestOfPageHashes, hashMemory } from '../memory/digest.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import { PageEncoding } from '../protocol/constants.ts';
import type { PageBatch } from '../protocol/pages.ts';
import { toHex } from '../util/bytes.ts';

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
  private hashes = new BigUint64Array(256);
  private readonly regionBuffers: Buffer[];
  /** Pages received at least once, per region. */
  readonly received: readonly DirtyBitmap[];
  /** xxh64 of every page as it is in memory now, regions back to back. */
  readonly pageHashes: BigUint64Array;
  private readonly regionFirstPage: number[];
  pagesApplied = 0;

  /**
   * `fresh`: the memory is known to be all zero (just allocated), so the hash table starts as
   * the zero-page hash; otherwise it starts from a scan of the memory as handed over.
   */
  constructor(memory: GuestMemory, kernels: Kernels, fresh: boolean) {
    this.memory = memory;
    this.kernels = kernels;
    this.zeroPageHash = kernels.xxh64(new Uint8Array(memory.pageSize));
    this.regionBuffers = memory.regions.map((r) => Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength));
    this.received = memory.regions.map((r) => new DirtyBitmap(r.pageCount));
    this.pageHashes = fresh ? new BigUint64Array(memory.totalPages).fill(this.zeroPageHash) : hashMemory(memory, kernels);
    this.regionFirstPage = [];
    let first = 0;
    for (const r of memory.regions) {
      this.regionFirstPage.push(first);
      first += r.pageCount;
    }
  }

  /** The protocol's memory digest of the memory as written so far. */
  digest(): bigint {
    return digestOfPageHashes(this.pageHashes, this.kernels);
  }

  apply(batch: PageBatch): void {
    const ps = this.memory.pageSize;
    const region = this.memory.regions[batch.regionIndex];
    if (!region) {
      throw new ProtocolError(
        ErrorCode.PAGE_OUT_OF_RANGE,
        `PAGES for region ${batch.regionIndex}, guest has ${this.memory.regions.length}`,
      );
    }
    const rawCount = batch.payload.byteLength / ps;
    if (this.hashes.length < rawCount) this.hashes = new BigUint64Array(rawCount);
    this.kernels.hashPages(batch.payload, ps, this.hashes);

    let raw = 0;
    for (let i = 0; i < batch.count; i++) {
      const page = batch.pageIndex(i);
      if (page >= region.pageCount) {
        throw new ProtocolError(
          ErrorCode.PAGE_OUT_OF_RANGE,
          `page ${page} is past the end of region "${region.name}" (${region.pageCount} pages)`,
        );
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
    const firstPage = this.regionFirstPage[batch.regionIndex]!;
    let at = 0;
    for (let i = 0; i < batch.count; i++) {
      const page = batch.pageIndex(i);
      this.pageHashes[firstPage + page] = batch.checksum(i);
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
