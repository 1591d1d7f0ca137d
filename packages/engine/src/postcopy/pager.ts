/**
 * The guest's side of cooperative post-copy, for a guest in a worker thread: call `ensure`
 * before touching a page. If the page has not arrived yet it asks the engine for it and blocks
 * the thread (`Atomics.wait`) until the engine has written it. Build it from what the
 * destination's `resume` hook was given (`PostcopyAccess.presence` and `.port`). Loads nothing
 * else of the engine, like `WriteBarrier`.
 */
export class PostcopyPager {
  private readonly words: Int32Array[];
  private readonly port: { postMessage(message: unknown): void };
  private readonly pageShift: number;
  /** Pages this thread had to wait for. */
  waits = 0;

  constructor(presence: readonly SharedArrayBuffer[], port: { postMessage(message: unknown): void }, pageSize: number) {
    this.words = presence.map((b) => new Int32Array(b));
    this.port = port;
    this.pageShift = Math.log2(pageSize);
  }

  /** True if page `page` of region `region` is here. */
  has(region: number, page: number): boolean {
    return (Atomics.load(this.words[region]!, page >>> 5) & (1 << (page & 31))) !== 0;
  }

  /** Returns once page `page` of region `region` is here, blocking this thread meanwhile. */
  ensure(region: number, page: number): void {
    const words = this.words[region]!;
    const w = page >>> 5;
    const bit = 1 << (page & 31);
    let v = Atomics.load(words, w);
    if ((v & bit) !== 0) return;
    this.waits++;
    this.port.postMessage([region, page]);
    while ((v & bit) === 0) {
      // Wakes when the engine sets any bit of this word; re-check, and wait again if not ours.
      Atomics.wait(words, w, v);
      v = Atomics.load(words, w);
    }
  }

  /** `ensure` for every page that `length` bytes from byte `offset` of the region touch. */
  ensureRange(region: number, offset: number, length: number): void {
    if (length <= 0) return;
    const last = Math.floor((offset + length - 1) / 2 ** this.pageShift);
    for (let page = Math.floor(offset / 2 ** this.pageShift); page <= last; page++) this.ensure(region, page);
  }
}
