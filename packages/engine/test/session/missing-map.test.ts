import { describe, expect, it } from 'vitest';
import { DirtyBitmap, ErrorCode, limits, type MemoryLayout } from '../../src/index.ts';
import type { Frame } from '../../src/protocol/frame.ts';
import { FrameReader } from '../../src/protocol/frame-reader.ts';
import { encode, Msg } from '../../src/protocol/registry.ts';
import { MissingPageMap } from '../../src/session/missing-map.ts';

const PAGES = limits.MAX_MISSING_PAGES_PER_MESSAGE;
const layout: MemoryLayout = {
  pageSize: 4096,
  regions: [
    { name: 'big', sizeBytes: (PAGES + 100) * 4096 },
    { name: 'empty', sizeBytes: 64 * 4096 },
    { name: 'odd', sizeBytes: 33 * 4096 },
  ],
};

function framesOf(buffers: Buffer[]): Frame[] {
  const reader = new FrameReader(1 << 24);
  return buffers.flatMap((b) => reader.push(b).map((f) => ({ type: f.type, body: f.body.slice() })));
}

describe('the missing-page map codec', () => {
  it('carries bitmaps across messages of at most 2^20 pages and reads back the same pages and count', async () => {
    const maps = [new DirtyBitmap(PAGES + 100), new DirtyBitmap(64), new DirtyBitmap(33)];
    for (const p of [0, 1, 31, 32, PAGES - 1, PAGES, PAGES + 99]) maps[0]!.set(p);
    maps[2]!.set(32);
    const { frames, count } = MissingPageMap.encode('RECOVER_MISSING', maps);
    expect(count).toBe(8);
    // The empty region sends nothing; the big one two messages; the odd one one.
    expect(frames).toHaveLength(3);
    const queue = framesOf([...frames, encode(Msg.RECOVER_END, { missingPages: count })]);
    const read = await MissingPageMap.read(layout, 'RECOVER_MISSING', async () => queue.shift()!);
    expect(read.count).toBe(8);
    for (const [r, b] of read.bitmaps.entries()) expect(Array.from(b.words)).toEqual(Array.from(maps[r]!.words));
  });

  it('complements what a receiver holds, without bits past a region’s last page', () => {
    const held = [new DirtyBitmap(PAGES + 100), new DirtyBitmap(64), new DirtyBitmap(33)];
    held[0]!.fill();
    held[0]!.clear(5);
    held[2]!.set(0);
    const missing = MissingPageMap.complement(
      layout,
      held.map((b) => b.words),
    );
    expect(missing.map((m) => m.count())).toEqual([1, 64, 32]);
    expect(missing[0]!.nextSet(0)).toBe(5);
  });

  it('refuses a part past its region’s end and a RECOVER_END that miscounts', async () => {
    const past = framesOf([encode(Msg.POSTCOPY_MISSING, { region: 2, firstPage: 32, pageCount: 2, runs: Uint8Array.of(0, 2) })])[0]!;
    expect(() => MissingPageMap.decode('POSTCOPY_MISSING', past, layout)).toThrow(
      expect.objectContaining({ code: ErrorCode.PAGE_OUT_OF_RANGE }),
    );
    const noRegion = framesOf([encode(Msg.POSTCOPY_MISSING, { region: 7, firstPage: 0, pageCount: 1, runs: Uint8Array.of(0, 1) })])[0]!;
    expect(() => MissingPageMap.decode('POSTCOPY_MISSING', noRegion, layout)).toThrow(
      expect.objectContaining({ code: ErrorCode.PAGE_OUT_OF_RANGE }),
    );
    const queue = framesOf([encode(Msg.RECOVER_END, { missingPages: 3 })]);
    await expect(MissingPageMap.read(layout, 'RECOVER_MISSING', async () => queue.shift()!)).rejects.toMatchObject({
      code: ErrorCode.FRAME_MALFORMED,
    });
  });
});
