import { describe, expect, it } from 'vitest';
import { loadKernels } from '../../src/accel/index.ts';
import { BatchDecoder } from '../../src/codec/batch-decoder.ts';
import { BatchEncoder, type CompressionMode } from '../../src/codec/batch-encoder.ts';
import { lz4CompressPage } from '../../src/codec/lz4.ts';
import { DirtyBitmap } from '../../src/dirty/bitmap.ts';
import { FRAME_HEADER_BYTES, PAGE_ENTRY_BYTES, PAGES_HEADER_BYTES } from '../../src/protocol/limits.ts';
import { GuestMemory, IntegrityError, PageBatch, PageEncoding } from '../../src/index.ts';
import { guestMemory } from '../harness/index.ts';

const PS = 4096;
const PAGES = 64;

/** Zero, random, duplicate and text pages, in a rotation of 8. */
function mixedSource(): GuestMemory {
  return guestMemory(PAGES * PS, { fill: 'mixed' });
}

function all(): DirtyBitmap {
  const d = new DirtyBitmap(PAGES);
  d.fill();
  return d;
}

/** Sends every batch the encoder makes for `dirty` through a decoder; returns the encodings used. */
function transfer(encoder: BatchEncoder, decoder: BatchDecoder, memory: GuestMemory, dirty: DirtyBitmap, round: number): PageEncoding[] {
  const seen: PageEncoding[] = [];
  let from = 0;
  while (from >= 0) {
    const { batch, nextFrom } = encoder.next(memory.region(0), 0, dirty, from, round, round === 0);
    from = nextFrom;
    if (!batch) continue;
    const parsed = new PageBatch(batch.frame.subarray(FRAME_HEADER_BYTES), PS);
    for (let i = 0; i < parsed.count; i++) seen.push(parsed.encoding(i));
    decoder.apply(parsed);
    encoder.release(batch);
  }
  return seen;
}

describe.each(['native', 'js'] as const)('page encodings with %s kernels', (which) => {
  it.each(['off', 'lz4', 'xbzrle', 'adaptive'] as CompressionMode[])(
    '%s mode rebuilds identical memory over three rounds',
    async (mode) => {
      const kernels = await loadKernels({ native: which === 'native' });
      const source = mixedSource();
      const dest = GuestMemory.fromLayout(source.layout);
      const encoder = new BatchEncoder(source.layout, kernels, { compression: mode, batchPages: 16 });
      const decoder = new BatchDecoder(dest, kernels, true);
      const first = transfer(encoder, decoder, source, all(), 0);
      // Rounds 1 and 2: a few bytes change in every non-zero page. Pages enter the XBZRLE cache
      // when sent after round 0, so round 2 sends deltas.
      for (let p = 1; p < PAGES; p++) if (p % 8 !== 0) source.page(0, p)[100 + p]! ^= 0xff;
      const between = transfer(encoder, decoder, source, all(), 1);
      for (let p = 1; p < PAGES; p++) if (p % 8 !== 0) source.page(0, p)[200 + p]! ^= 0xff;
      const second = transfer(encoder, decoder, source, all(), 2);
      expect(Buffer.compare(source.region(0).bytes, dest.region(0).bytes)).toBe(0);
      expect(decoder.digest()).toBe(new BatchDecoder(dest, kernels, false).digest());
      const used = new Set([...first, ...between, ...second]);
      if (mode === 'off') expect([...used].sort()).toEqual([PageEncoding.RAW, PageEncoding.ZERO]);
      if (mode === 'lz4') expect(used.has(PageEncoding.LZ4)).toBe(true);
      if (mode === 'xbzrle' || mode === 'adaptive') expect(second.filter((e) => e === PageEncoding.XBZRLE).length).toBeGreaterThan(40);
      if (mode === 'adaptive') expect(first.includes(PageEncoding.DEDUP)).toBe(true);
      const stats = encoder.stats();
      expect(stats.pages.raw + stats.pages.zero + stats.pages.lz4 + stats.pages.xbzrle + stats.pages.dedup).toBe(
        first.length + between.length + second.length,
      );
    },
  );
});

describe('decoding is checked', () => {
  async function encodedBatch(
    mode: CompressionMode,
  ): Promise<{ frame: Buffer; dest: GuestMemory; decoder: BatchDecoder; kernels: Awaited<ReturnType<typeof loadKernels>> }> {
    const kernels = await loadKernels();
    const source = mixedSource();
    const encoder = new BatchEncoder(source.layout, kernels, { compression: mode, batchPages: PAGES });
    const dest = GuestMemory.fromLayout(source.layout);
    const decoder = new BatchDecoder(dest, kernels, true);
    const { batch } = encoder.next(source.region(0), 0, all(), 0, 1, false);
    return { frame: Buffer.from(batch!.frame), dest, decoder, kernels };
  }

  function entryOf(frame: Buffer, encoding: PageEncoding): { index: number; payloadAt: number; length: number } {
    const batch = new PageBatch(frame.subarray(FRAME_HEADER_BYTES), PS);
    let at = FRAME_HEADER_BYTES + PAGES_HEADER_BYTES + batch.count * PAGE_ENTRY_BYTES;
    for (let i = 0; i < batch.count; i++) {
      if (batch.encoding(i) === encoding) return { index: i, payloadAt: at, length: batch.length(i) };
      at += batch.length(i);
    }
    throw new Error(`no ${encoding} entry`);
  }

  it('rejects an LZ4 page whose declared size is not the page size, before decompressing', async () => {
    const { frame, dest, decoder } = await encodedBatch('lz4');
    const { payloadAt } = entryOf(frame, PageEncoding.LZ4);
    frame.writeUInt32LE(0x7fff_ffff, payloadAt);
    expect(() => decoder.apply(new PageBatch(frame.subarray(FRAME_HEADER_BYTES), PS))).toThrow(
      expect.objectContaining({ code: 'FERRY_DECODE_FAILED' }),
    );
    expect(dest.region(0).bytes.every((b) => b === 0)).toBe(true);
  });

  it('rejects a corrupted LZ4 block with a typed error, writing nothing', async () => {
    const { frame, dest, decoder } = await encodedBatch('lz4');
    const { payloadAt, length } = entryOf(frame, PageEncoding.LZ4);
    frame.fill(0xff, payloadAt + 4, payloadAt + length);
    expect(() => decoder.apply(new PageBatch(frame.subarray(FRAME_HEADER_BYTES), PS))).toThrow(IntegrityError);
    expect(dest.region(0).bytes.every((b) => b === 0)).toBe(true);
  });

  it('rejects a DEDUP reference to a page this host never received', async () => {
    const { frame, decoder } = await encodedBatch('adaptive');
    // The first batch cannot dedup (nothing sent before it), so forge a DEDUP entry from a RAW one.
    const batch = new PageBatch(frame.subarray(FRAME_HEADER_BYTES), PS);
    expect(batch.count).toBeGreaterThan(0);
    const forged = Buffer.alloc(FRAME_HEADER_BYTES + PAGES_HEADER_BYTES + PAGE_ENTRY_BYTES + 8);
    frame.copy(forged, 0, 0, FRAME_HEADER_BYTES + PAGES_HEADER_BYTES + PAGE_ENTRY_BYTES);
    forged.writeUInt32LE(forged.byteLength - FRAME_HEADER_BYTES, 0);
    forged.writeUInt32LE(1, FRAME_HEADER_BYTES + 8); // one entry
    const e = FRAME_HEADER_BYTES + PAGES_HEADER_BYTES;
    forged[e + 4] = PageEncoding.DEDUP;
    forged.writeUInt32LE(8, e + 8);
    forged.writeUInt32LE(5, e + PAGE_ENTRY_BYTES + 4); // region 0, page 5: never received
    expect(() => decoder.apply(new PageBatch(forged.subarray(FRAME_HEADER_BYTES), PS))).toThrow(
      expect.objectContaining({ code: 'FERRY_DECODE_FAILED' }),
    );
  });

  it('LZ4 output of lz4-napi carries the page size as its prefix', () => {
    const page = Buffer.alloc(PS, 7);
    const c = lz4CompressPage(page);
    expect(c.readUInt32LE(0)).toBe(PS);
    expect(c.byteLength).toBeLessThan(100);
  });
});
