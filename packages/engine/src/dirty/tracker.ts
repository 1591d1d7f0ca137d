import type { DirtyBitmap } from './bitmap.ts';

/**
 * Finds the pages a running guest wrote. The engine calls `start` before the first round (from
 * then on every write is recorded), `sync` at the start of each later round (moves what was
 * recorded since the last sync into `into` and starts recording afresh), and `stop` at the end.
 */
export interface DirtyTracker {
  readonly kind: string;
  /** May be async: a tracker that must first read all memory (hash scan) resolves when ready. */
  start(): void | Promise<void>;
  /**
   * Adds the pages of `regionIndex` written since the last sync to `into`; returns how many.
   * May be async, for trackers that scan memory off the event loop. The count is only defined
   * for an `into` with no bit set (pages already set may be counted or not: the write barrier
   * and the external log count every page they take, the hash scan and the kernel tracker only
   * the bits they newly set); the engine reads it only so, and the compliance suite checks it so.
   */
  sync(regionIndex: number, into: DirtyBitmap): number | Promise<number>;
  /**
   * Optional: like `sync`, but only for pages `[fromPage, toPage)`, rounded out to whole
   * bitmap words. Pre-copy calls it just before sending a stretch of pages, so a page written
   * again since the round began goes once, with its newest content, instead of now and again
   * next round (QEMU clears dirty bits the same way, just before sending).
   */
  syncRange?(regionIndex: number, fromPage: number, toPage: number, into: DirtyBitmap): number;
  /**
   * Optional: pre-copy calls it once, before `start`, with the hash (`hashPages`) of every page
   * as the destination holds it, by page key, kept current as pages are sent. A tracker that finds
   * dirty pages by content compares against these rather than against its own last scan, so a
   * page that another process changed while it was being sent, then changed back before the
   * next scan (a lock word taken and released), is still found.
   */
  compareWithSent?(sentHashes: BigUint64Array): void;
  stop(): void;
}
