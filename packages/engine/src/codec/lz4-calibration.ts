// LZ4's starting speed on this machine, measured before the adaptive encoder has seen a guest page.
import type { Clock } from '../util/clock.ts';
import { lz4CompressPage } from './lz4.ts';

/**
 * LZ4's speed on this machine before any guest page is seen: a few warm runs over text-like
 * pages (a heap of small records), the kind of memory where the choice matters. Later batches
 * replace it with measurements of real pages.
 */
export function calibrateLz4(pageSize: number, clock: Clock): number {
  const page = Buffer.alloc(pageSize);
  for (let at = 0, n = 0; at < pageSize; n++) {
    const rec = Buffer.from(`{"id":${n},"name":"record-${n % 97}","tags":["a","b"],"ok":${n % 2 === 0}},`);
    rec.copy(page, at);
    at += rec.byteLength;
  }
  lz4CompressPage(page);
  let best = Number.POSITIVE_INFINITY;
  for (let run = 0; run < 3; run++) {
    const t = clock.nowMs();
    for (let i = 0; i < 8; i++) lz4CompressPage(page);
    best = Math.min(best, clock.nowMs() - t);
  }
  return best > 0 ? ((8 * pageSize) / best) * 1000 : 0;
}
