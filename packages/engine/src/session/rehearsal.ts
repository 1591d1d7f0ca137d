/**
 * A dry run of the switchover's code, before the pause. The switchover runs code that pre-copy
 * never does (the missing-page map, the handover's messages), once per migration and in a
 * fresh process for the first time: interpreted, not yet compiled. A missing-page map of a
 * 1 GiB guest took 50 ms so in one fresh process on this project's (loaded) machine, under one
 * once warm. Encoding and decoding each switchover message and a map of the guest's own size while
 * the guest still runs moves that cost out of the blackout. Pure: nothing is sent.
 */
import { DirtyBitmap } from '../dirty/bitmap.ts';
import type { MemoryLayout } from '../memory/layout.ts';
import { type Frame, readFrameHeader } from '../protocol/frame.ts';
import { FRAME_HEADER_BYTES, MAX_FRAME_BODY_BYTES } from '../protocol/limits.ts';
import { decode, encode, Msg } from '../protocol/registry.ts';
import { MissingPageMap } from './missing-map.ts';

/** Passes that get a loop compiled (V8 tiers a function up after a few calls). */
const PASSES = 3;
/** Pages per region rehearsed at most: enough for the compiler, bounded for a huge guest. */
const MAX_PAGES = 2 ** 20;

/** Encodes and decodes what a switchover sends and receives, for `layout`, and discards it all; returns the map pages rehearsed per pass. */
export function rehearseSwitchover(layout: MemoryLayout): number {
  let mapPages = 0;
  const pageCount = (r: { sizeBytes: number }): number => Math.min(MAX_PAGES, r.sizeBytes / layout.pageSize);
  for (let pass = 0; pass < PASSES; pass++) {
    // Half the pages missing, in runs: the map's encoder and decoder both loop.
    const maps = layout.regions.map((r) => {
      const b = new DirtyBitmap(pageCount(r));
      for (let w = 0; w < b.words.length; w += 2) b.words[w] = 0xffff_ffff;
      return b;
    });
    for (const frame of MissingPageMap.encode('POSTCOPY_MISSING', maps).frames)
      MissingPageMap.decode('POSTCOPY_MISSING', read(frame), layout);
    mapPages = maps.reduce((n, b) => n + b.bitCount, 0);
    decode(Msg.SWITCHOVER, read(encode(Msg.SWITCHOVER, { round: 1 })));
    decode(Msg.POSTCOPY_ENTER, read(encode(Msg.POSTCOPY_ENTER, { round: 1 })));
    decode(Msg.COMPLETE, read(encode(Msg.COMPLETE, { digest: 1n, totalPages: 1, finalRound: 1 })));
    decode(Msg.READY, read(encode(Msg.READY, { digest: 1n })));
    decode(Msg.COMMIT, read(encode(Msg.COMMIT, {})));
    decode(Msg.RESUMED, read(encode(Msg.RESUMED, { resumeMicros: 1, verifyMicros: 1 })));
  }
  return mapPages;
}

function read(bytes: Uint8Array): Frame {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const { type, bodyBytes } = readFrameHeader(view, 0, MAX_FRAME_BODY_BYTES);
  return { type, body: bytes.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + bodyBytes) };
}
