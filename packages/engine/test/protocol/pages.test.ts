import { describe, expect, it } from 'vitest';
import { createJsKernels } from '../../src/accel/index.ts';
import { BatchDecoder } from '../../src/codec/batch-decoder.ts';
import { BatchEncoder } from '../../src/codec/batch-encoder.ts';
import { DirtyBitmap } from '../../src/dirty/bitmap.ts';
import { FRAME_HEADER_BYTES, PAGES_HEADER_BYTES } from '../../src/protocol/limits.ts';
import { GuestMemory, IntegrityError, PageBatch, PageEncoding, ProtocolError } from '../../src/index.ts';
import { guestMemory } from '../harness/index.ts';

const kernels = await createJsKernels();
const PS = 4096;

function sourceWithPages(): { memory: GuestMemory; dirty: DirtyBitmap } {
  const memory = guestMemory(64 * PS);
  const dirty = new DirtyBitmap(64);
  for (const p of [0, 1, 2, 5, 9, 10, 40, 63]) {
    if (p !== 9) memory.page(0, p).fill(p + 1); // page 9 stays zero
    dirty.set(p);
  }
  return { memory, dirty };
}

function encode(skipZero: boolean): Buffer {
  const { memory, dirty } = sourceWithPages();
  return new BatchEncoder(memory.layout, kernels).next(memory.region(0), 0, dirty, 0, 1, skipZero).batch!.frame;
}

describe('PAGES batches', () => {
  it('carry every dirty page and rebuild identical memory on the other side', () => {
    const { memory } = sourceWithPages();
    const frame = encode(false);
    const batch = new PageBatch(frame.subarray(FRAME_HEADER_BYTES), PS);
    expect(batch.count).toBe(8);
    expect(batch.encoding(4)).toBe(PageEncoding.ZERO);
    const dest = GuestMemory.fromLayout(memory.layout);
    dest.page(0, 9).fill(0xee); // stale content a ZERO page must overwrite
    const decoder = new BatchDecoder(dest, kernels, false);
    decoder.apply(batch);
    expect(Buffer.compare(dest.region(0).bytes, memory.region(0).bytes)).toBe(0);
    expect(decoder.received[0]!.count()).toBe(8);
  });

  it('leave zero pages out when asked, as round 0 does', () => {
    const batch = new PageBatch(encode(true).subarray(FRAME_HEADER_BYTES), PS);
    expect(batch.count).toBe(7);
    expect([...Array(batch.count).keys()].map((i) => batch.pageIndex(i))).toEqual([0, 1, 2, 5, 10, 40, 63]);
  });

  it('fail the whole batch on one flipped payload bit, writing nothing', () => {
    const frame = encode(false);
    frame[frame.byteLength - 1]! ^= 1;
    const dest = guestMemory(64 * PS);
    const decoder = new BatchDecoder(dest, kernels, true);
    expect(() => decoder.apply(new PageBatch(frame.subarray(FRAME_HEADER_BYTES), PS))).toThrow(IntegrityError);
    expect(dest.region(0).bytes.every((b) => b === 0)).toBe(true);
  });

  it('reject a page index past the region and a payload that disagrees with the entries', () => {
    const frame = encode(false);
    const entries = FRAME_HEADER_BYTES + PAGES_HEADER_BYTES;
    const far = Buffer.from(frame);
    far.writeUInt32LE(64, entries); // page 64 of a 64-page region
    const dest = guestMemory(64 * PS);
    expect(() => new BatchDecoder(dest, kernels, true).apply(new PageBatch(far.subarray(FRAME_HEADER_BYTES), PS))).toThrow(
      expect.objectContaining({ code: 'FERRY_PAGE_OUT_OF_RANGE' }),
    );
    expect(() => new PageBatch(frame.subarray(FRAME_HEADER_BYTES, frame.byteLength - 1), PS)).toThrow(ProtocolError);
    const badEncoding = Buffer.from(frame);
    badEncoding[entries + 4] = 0x09;
    expect(() => new PageBatch(badEncoding.subarray(FRAME_HEADER_BYTES), PS)).toThrow(
      expect.objectContaining({ code: 'FERRY_FRAME_MALFORMED' }),
    );
    const hugeCount = Buffer.from(frame);
    hugeCount.writeUInt32LE(0xffff_ffff, FRAME_HEADER_BYTES + 8);
    // Refused on its count, before anything is read or set aside: it could never decode within the limit.
    expect(() => new PageBatch(hugeCount.subarray(FRAME_HEADER_BYTES), PS)).toThrow(
      expect.objectContaining({ code: 'FERRY_FRAME_TOO_LARGE' }),
    );
    // Entries that each decode to a whole page from 20 bytes: more than a frame's worth of pages is refused too.
    const manyPages = Buffer.from(frame);
    manyPages.writeUInt32LE(4097, FRAME_HEADER_BYTES + 8);
    expect(() => new PageBatch(manyPages.subarray(FRAME_HEADER_BYTES), PS)).toThrow(
      expect.objectContaining({ code: 'FERRY_FRAME_TOO_LARGE', message: expect.stringContaining('would decode to 16781312 bytes') }),
    );
  });

  it('keep the destination digest equal to a full rescan of its memory', () => {
    const { memory } = sourceWithPages();
    const dest = GuestMemory.fromLayout(memory.layout);
    const decoder = new BatchDecoder(dest, kernels, true);
    decoder.apply(new PageBatch(encode(false).subarray(FRAME_HEADER_BYTES), PS));
    const rescan = new BatchDecoder(dest, kernels, false);
    expect(decoder.digest()).toBe(rescan.digest());
  });
});
