import type { Kernels } from '../accel/kernels.ts';
import type { DirtyBitmap } from '../dirty/bitmap.ts';
import type { MemoryRegion } from '../memory/guest-memory.ts';
import { MessageType, PageEncoding } from '../protocol/constants.ts';
import { writeFrameHeader } from '../protocol/frame.ts';
import { FRAME_HEADER_BYTES, PAGE_ENTRY_BYTES, PAGES_HEADER_BYTES } from '../protocol/limits.ts';
import { pagesBodyBytes, writePageEntry, writePagesHeader } from '../protocol/pages.ts';

/** Pages per PAGES frame by default: 256 x 4 KiB = 1 MiB of payload. */
export const DEFAULT_BATCH_PAGES = 256;

/** Frame buffers kept for reuse: the transport's 4 MiB queue plus a few in the kernel's hands. */
const MAX_POOLED_FRAMES = 16;

export interface EncodedBatch {
  /** The whole frame, header included, ready to write; a view of a pooled buffer. */
  readonly frame: Buffer;
  /** The pooled buffer behind `frame`: hand it back with `release` once written. */
  readonly buffer: Buffer;
  readonly pages: number;
  readonly zeroPages: number;
}

/**
 * Builds PAGES frames from guest memory. Per batch: copy the pages into the frame's payload run
 * (the copy is the snapshot; the guest may keep writing its own memory), hash and zero-scan the
 * copy in one kernel call, then drop or mark zero pages. Checksums are of the bytes sent, so a
 * page the guest changes mid-copy is still consistent; the dirty tracker sends it again.
 * One frame buffer per batch, no allocation per page.
 */
export class BatchEncoder {
  private readonly pageSize: number;
  private readonly kernels: Kernels;
  readonly batchPages: number;
  private readonly indices: Uint32Array;
  private readonly hashes: BigUint64Array;
  private readonly zeroBits: Uint32Array;
  private readonly regionBuffers = new Map<MemoryRegion, Buffer>();
  /**
   * Frame buffers come back here once the transport has written them. Reusing them avoids a
   * fresh allocation, and the page faults of touching it, for every MiB sent.
   */
  private readonly pool: Buffer[] = [];
  private readonly frameCapacity: number;

  constructor(pageSize: number, kernels: Kernels, batchPages: number = DEFAULT_BATCH_PAGES) {
    this.pageSize = pageSize;
    this.kernels = kernels;
    this.batchPages = batchPages;
    this.indices = new Uint32Array(batchPages);
    this.hashes = new BigUint64Array(batchPages);
    this.zeroBits = new Uint32Array(Math.ceil(batchPages / 32));
    this.frameCapacity = FRAME_HEADER_BYTES + pagesBodyBytes(batchPages, batchPages * pageSize);
  }

  /** Returns a batch's buffer to the pool once the transport is done with it. */
  release(batch: EncodedBatch): void {
    if (this.pool.length < MAX_POOLED_FRAMES) this.pool.push(batch.buffer);
  }

  /**
   * Encodes the next batch of set bits of `dirty` from page `from` on. Returns the batch and
   * the page index to continue from (-1 when the bitmap is exhausted). With `skipZero`, zero
   * pages are left out entirely (round 0: the destination starts from zeroed memory).
   * `sentHashes`, when given, receives the hash of every page encoded (at its page index):
   * a table of what the destination holds.
   */
  next(
    region: MemoryRegion,
    regionIndex: number,
    dirty: DirtyBitmap,
    from: number,
    round: number,
    skipZero: boolean,
    sentHashes?: BigUint64Array,
  ): { batch: EncodedBatch | undefined; nextFrom: number } {
    const ps = this.pageSize;
    let count = 0;
    let at = dirty.nextSet(from);
    while (at >= 0 && count < this.batchPages) {
      this.indices[count++] = at;
      at = dirty.nextSet(at + 1);
    }
    if (count === 0) return { batch: undefined, nextFrom: -1 };

    const src = this.regionBuffer(region);
    const frame = this.pool.pop() ?? Buffer.allocUnsafeSlow(this.frameCapacity);
    const payloadAt = FRAME_HEADER_BYTES + PAGES_HEADER_BYTES + count * PAGE_ENTRY_BYTES;
    // Copy runs of consecutive pages with one memcpy each.
    for (let i = 0; i < count; ) {
      let j = i + 1;
      while (j < count && this.indices[j] === this.indices[j - 1]! + 1) j++;
      const first = this.indices[i]!;
      src.copy(frame, payloadAt + i * ps, first * ps, (first + (j - i)) * ps);
      i = j;
    }
    const payload = frame.subarray(payloadAt, payloadAt + count * ps);
    const zeroCount = this.kernels.scanPages(payload, ps, this.hashes, this.zeroBits);

    // Entries kept: every page, or only non-zero ones. The payload run moves left over dropped
    // ZERO payloads (and, with skipZero, over dropped entries); with no zero page nothing moves.
    const kept = skipZero ? count - zeroCount : count;
    const entriesAt = FRAME_HEADER_BYTES + PAGES_HEADER_BYTES;
    const newPayloadAt = entriesAt + kept * PAGE_ENTRY_BYTES;
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    let entry = 0;
    let out = newPayloadAt;
    for (let i = 0; i < count; i++) {
      if (sentHashes) sentHashes[this.indices[i]!] = this.hashes[i]!;
      const isZero = (this.zeroBits[i >>> 5]! & (1 << (i & 31))) !== 0;
      if (isZero && skipZero) continue;
      // Entry writes land in the table; the payload run is read ahead of them (newPayloadAt <=
      // payloadAt and out <= the source offset), so moving left never overwrites unread bytes.
      if (isZero) {
        writePageEntry(view, entriesAt, entry, this.indices[i]!, PageEncoding.ZERO, 0, this.hashes[i]!);
      } else {
        const from = payloadAt + i * ps;
        if (out !== from) frame.copy(frame, out, from, from + ps);
        out += ps;
        writePageEntry(view, entriesAt, entry, this.indices[i]!, PageEncoding.RAW, ps, this.hashes[i]!);
      }
      entry++;
    }
    if (kept === 0) {
      this.pool.push(frame);
      return { batch: undefined, nextFrom: at };
    }
    const frameBytes = out;
    writeFrameHeader(view, 0, MessageType.PAGES, frameBytes - FRAME_HEADER_BYTES);
    writePagesHeader(view, FRAME_HEADER_BYTES, regionIndex, round, kept);
    return {
      batch: { frame: frame.subarray(0, frameBytes), buffer: frame, pages: kept, zeroPages: skipZero ? 0 : zeroCount },
      nextFrom: at,
    };
  }

  private regionBuffer(region: MemoryRegion): Buffer {
    let b = this.regionBuffers.get(region);
    if (!b) {
      b = Buffer.from(region.bytes.buffer, region.bytes.byteOffset, region.bytes.byteLength);
      this.regionBuffers.set(region, b);
    }
    return b;
  }
}
