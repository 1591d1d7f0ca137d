/** The link's rate as LZ4's cost model needs it: wire bytes over windows of raw batches. */
import { decayingMax } from '../util/smoothing.ts';

/**
 * Measures the link for the cost model. The rate the sender hands raw pages to the link
 * (waits for a full socket or the pacer included) is the rate the link, or whatever is slowest
 * behind it, takes them. Windows in which any batch was compressed are left out: compressing
 * slows the sender and would make the link look slower than it is, which would make the model
 * compress more. While LZ4 keeps winning, every `remeasureEvery`-th window is forced raw so
 * the figure follows a link that changes.
 */
export class LinkMeter {
  private readonly windowPages: number;
  private readonly remeasureEvery: number;
  private windowStartMs = Number.NaN;
  private windowPagesDone = 0;
  private windowBytes = 0;
  private windowCompressed = false;
  private windowsSinceRaw = 0;
  /** Wire bytes per second of the best recent raw window (decaying); 0 until one was measured. */
  rawLinkBytesPerSec = 0;

  constructor(windowPages = 2048, remeasureEvery = 16) {
    this.windowPages = windowPages;
    this.remeasureEvery = remeasureEvery;
  }

  /** Whether the next batch must go without LZ4 (a re-measuring window). */
  get forceRaw(): boolean {
    return this.windowsSinceRaw >= this.remeasureEvery;
  }

  /** After each batch is handed to the link (after any wait): its pages, wire bytes, and whether LZ4 was used. */
  delivered(pages: number, wireBytes: number, compressed: boolean, nowMs: number): void {
    if (Number.isNaN(this.windowStartMs)) {
      this.windowStartMs = nowMs; // the first batch after a pause only starts the clock
      return;
    }
    this.windowPagesDone += pages;
    this.windowBytes += wireBytes;
    this.windowCompressed ||= compressed;
    if (this.windowPagesDone < this.windowPages) return;
    const elapsedMs = Math.max(nowMs - this.windowStartMs, 0.001);
    if (this.windowCompressed) {
      this.windowsSinceRaw++;
    } else {
      this.rawLinkBytesPerSec = decayingMax(this.rawLinkBytesPerSec, (this.windowBytes / elapsedMs) * 1000);
      this.windowsSinceRaw = 0;
    }
    this.windowStartMs = nowMs;
    this.windowPagesDone = 0;
    this.windowBytes = 0;
    this.windowCompressed = false;
  }

  /** A pause in delivery (round boundaries, waiting for acknowledgements) is not the link's doing. */
  idle(): void {
    this.windowStartMs = Number.NaN;
    this.windowPagesDone = 0;
    this.windowBytes = 0;
    this.windowCompressed = false;
  }
}
