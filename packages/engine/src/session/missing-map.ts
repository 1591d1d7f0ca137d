import { DirtyBitmap } from '../dirty/bitmap.ts';
import { ErrorCode, ProtocolError } from '../errors.ts';
import type { MemoryLayout } from '../memory/layout.ts';
import type { Frame } from '../protocol/frame.ts';
import { FRAME_HEADER_BYTES, MAX_FRAME_BODY_BYTES, MAX_MISSING_PAGES_PER_MESSAGE } from '../protocol/limits.ts';
import { decode, encode, Msg } from '../protocol/registry.ts';

/** The two messages that carry a map of missing pages: post-copy's entry, and a reconnection's answer. */
export type MissingMapMessage = 'POSTCOPY_MISSING' | 'RECOVER_MISSING';

/** One decoded message of a missing-page map: pages of `region` from `firstPage` on, in range. */
export interface MissingPart {
  readonly region: number;
  readonly firstPage: number;
  readonly pages: DirtyBitmap;
}

/**
 * The missing-page map codec (docs/protocol.md §6, §6.3): per region, a bitmap cut into messages of
 * at most 2^20 pages, each starting on a word boundary, run-length encoded; chunks with no
 * page set are left out. One codec for both directions and both messages.
 */
export const MissingPageMap = {
  /**
   * The frames that carry `bitmaps` (one per region), and how many pages they mark. A message
   * whose body would pass `maxBodyBytes` (the peer's HELLO_ACCEPT) is cut in two until it fits.
   */
  encode(
    kind: MissingMapMessage,
    bitmaps: readonly DirtyBitmap[],
    maxBodyBytes: number = MAX_FRAME_BODY_BYTES,
  ): { frames: Buffer[]; count: number } {
    const frames: Buffer[] = [];
    let count = 0;
    const part = (region: number, missing: DirtyBitmap, first: number, pageCount: number): void => {
      const next = missing.nextSet(first);
      if (next < 0 || next >= first + pageCount) return;
      // `first` is a multiple of 32: the chunk's bits are whole words of the region's bitmap.
      const bits = new DirtyBitmap(pageCount, missing.words.slice(first >>> 5, (first + pageCount + 31) >>> 5));
      const frame = encode(Msg[kind], { region, firstPage: first, pageCount, runs: bits.toRuns() });
      if (frame.byteLength - FRAME_HEADER_BYTES > maxBodyBytes && pageCount > 32) {
        const half = Math.ceil(pageCount / 64) * 32;
        part(region, missing, first, half);
        part(region, missing, first + half, pageCount - half);
        return;
      }
      count += bits.count();
      frames.push(frame);
    };
    bitmaps.forEach((missing, region) => {
      for (let first = 0; first < missing.bitCount; first += MAX_MISSING_PAGES_PER_MESSAGE) {
        part(region, missing, first, Math.min(MAX_MISSING_PAGES_PER_MESSAGE, missing.bitCount - first));
      }
    });
    return { frames, count };
  },

  /** The pages NOT set in `held` (one word array per region of `layout`): what a receiver lacks. */
  complement(layout: MemoryLayout, held: readonly ArrayLike<number>[]): DirtyBitmap[] {
    return pageCounts(layout).map((pages, r) => {
      const map = new DirtyBitmap(pages);
      const words = map.words;
      const have = held[r]!;
      for (let w = 0; w < words.length; w++) words[w] = ~have[w]!;
      if (pages % 32 !== 0) words[words.length - 1]! &= -1 >>> (32 - (pages % 32));
      return map;
    });
  },

  /** One message of a map, checked against `layout`: a part past a region's end is FERRY_PAGE_OUT_OF_RANGE. */
  decode(kind: MissingMapMessage, frame: Frame, layout: MemoryLayout): MissingPart {
    const m = decode(Msg[kind], frame);
    const pages = pageCounts(layout)[m.region];
    if (pages === undefined || m.firstPage + m.pageCount > pages) {
      throw new ProtocolError(ErrorCode.PAGE_OUT_OF_RANGE, `${kind} past the end of region ${m.region}`);
    }
    return { region: m.region, firstPage: m.firstPage, pages: DirtyBitmap.fromRuns(m.pageCount, m.runs) };
  },

  /** Reads a reconnection's map: RECOVER_MISSING messages up to RECOVER_END, whose count must agree. */
  async read(
    layout: MemoryLayout,
    kind: 'RECOVER_MISSING',
    next: () => Promise<Frame>,
  ): Promise<{ bitmaps: DirtyBitmap[]; count: number }> {
    const bitmaps = pageCounts(layout).map((pages) => new DirtyBitmap(pages));
    let count = 0;
    for (;;) {
      const frame = await next();
      if (frame.type === Msg.RECOVER_END.type) {
        const end = decode(Msg.RECOVER_END, frame);
        if (end.missingPages !== count) {
          throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `RECOVER_END counts ${end.missingPages} missing pages, the maps ${count}`);
        }
        return { bitmaps, count };
      }
      const part = MissingPageMap.decode(kind, frame, layout);
      const target = bitmaps[part.region]!;
      for (let p = part.pages.nextSet(0); p >= 0; p = part.pages.nextSet(p + 1)) target.set(part.firstPage + p);
      count += part.pages.count();
    }
  },
};

function pageCounts(layout: MemoryLayout): number[] {
  return layout.regions.map((r) => r.sizeBytes / layout.pageSize);
}
