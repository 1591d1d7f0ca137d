import { describe, expect, it } from 'vitest';
import { DirtyBitmap, WriteBarrier, WriteBarrierTracker } from '../../src/index.ts';
import { startWorker } from '../../src/testing/index.ts';

describe('DirtyBitmap', () => {
  it('sets, tests, clears and counts single bits across word boundaries', () => {
    const b = new DirtyBitmap(100);
    for (const i of [0, 31, 32, 63, 64, 99]) b.set(i);
    expect(b.count()).toBe(6);
    expect(b.test(31) && b.test(32) && !b.test(33)).toBe(true);
    b.clear(32);
    expect(b.test(32)).toBe(false);
    expect(b.count()).toBe(5);
  });

  it('iterates set bits in order and skips empty words', () => {
    const b = new DirtyBitmap(1 << 20);
    const set = [3, 4, 31, 32, 1000, 65_535, 1_048_575];
    for (const i of set) b.set(i);
    const seen: number[] = [];
    for (let i = b.nextSet(0); i >= 0; i = b.nextSet(i + 1)) seen.push(i);
    expect(seen).toEqual(set);
  });

  it('fills exactly bitCount bits, not the padding of the last word', () => {
    const b = new DirtyBitmap(70);
    b.fill();
    expect(b.count()).toBe(70);
    expect(b.nextSet(70)).toBe(-1);
  });

  it('take moves bits out of the source and ORs them into the target', () => {
    const src = DirtyBitmap.shared(64);
    const dst = new DirtyBitmap(64);
    src.set(1);
    src.set(40);
    dst.set(2);
    expect(dst.takeFrom(src)).toBe(2);
    expect(src.count()).toBe(0);
    expect([dst.test(1), dst.test(2), dst.test(40)]).toEqual([true, true, true]);
  });

  it('loses no dirty bit when two threads mark while the engine keeps taking', async () => {
    const bits = 1 << 21;
    const tracker = new WriteBarrierTracker({ pageSize: 4096, regions: [{ name: 'ram0', sizeBytes: bits * 4096 }] });
    tracker.start();
    const go = new SharedArrayBuffer(4);
    const [buffer] = tracker.sharedBuffers();
    // Both writers hit the same words: writer 0 the even bits, writer 1 the odd ones.
    const workers = [0, 1].map((first) =>
      startWorker(new URL('../fixtures/bitmap-writer.worker.ts', import.meta.url), { workerData: { buffer, first, stride: 2, bits, go } }),
    );
    const exited = workers.map((w) => new Promise((resolve, reject) => w.once('exit', resolve).once('error', reject)));
    await new Promise((r) => setTimeout(r, 300)); // let both workers load
    const seen = new DirtyBitmap(bits);
    let taken = 0;
    let takes = 0;
    let running = true;
    void Promise.all(exited).then(() => {
      running = false;
    });
    Atomics.store(new Int32Array(go), 0, 1);
    Atomics.notify(new Int32Array(go), 0);
    while (running) {
      taken += tracker.sync(0, seen);
      takes++;
      await new Promise((r) => setImmediate(r));
    }
    await Promise.all(exited);
    taken += tracker.sync(0, seen);
    // Each bit was set exactly once, so a lost bit shows as a shortfall and a double take as excess.
    expect(seen.count()).toBe(bits);
    expect(taken).toBe(bits);
    expect(takes).toBeGreaterThan(1);
  });

  it('marks every page a byte range touches', () => {
    const tracker = new WriteBarrierTracker({ pageSize: 4096, regions: [{ name: 'ram0', sizeBytes: 16 * 4096 }] });
    const barrier = new WriteBarrier(tracker.sharedBuffers(), 4096);
    barrier.markRange(0, 4095, 2); // pages 0 and 1
    barrier.markRange(0, 8 * 4096, 4096); // page 8 only
    barrier.markByte(0, 15 * 4096 + 7);
    const out = new DirtyBitmap(16);
    tracker.sync(0, out);
    const seen: number[] = [];
    for (let i = out.nextSet(0); i >= 0; i = out.nextSet(i + 1)) seen.push(i);
    expect(seen).toEqual([0, 1, 8, 15]);
  });

  it('syncs a range of whole words only, leaving the rest for the next sync', () => {
    const tracker = new WriteBarrierTracker({ pageSize: 4096, regions: [{ name: 'ram0', sizeBytes: 128 * 4096 }] });
    const barrier = new WriteBarrier(tracker.sharedBuffers(), 4096);
    for (const p of [3, 31, 32, 63, 64, 100]) barrier.markPage(0, p);
    const into = new DirtyBitmap(128);
    expect(tracker.syncRange(0, 32, 64, into)).toBe(2); // word 1: pages 32 and 63
    expect([into.test(32), into.test(63), into.test(31), into.test(64)]).toEqual([true, true, false, false]);
    const rest = new DirtyBitmap(128);
    expect(tracker.sync(0, rest)).toBe(4);
    expect([rest.test(3), rest.test(31), rest.test(64), rest.test(100), rest.test(32)]).toEqual([true, true, true, true, false]);
  });

  it('unions and clears ranges, counting what changed', () => {
    const a = new DirtyBitmap(100);
    const b = new DirtyBitmap(100);
    a.setRange(10, 70);
    b.setRange(60, 100);
    expect(a.or(b)).toBe(30);
    expect(a.count()).toBe(90);
    a.clearRange(60, 100);
    expect(a.count()).toBe(50);
    expect(a.nextSet(0)).toBe(10);
    expect(a.nextClear(10)).toBe(60);
    a.clearRange(5, 67);
    expect(a.count()).toBe(0);
    b.clearRange(61, 99);
    expect([b.test(60), b.test(61), b.test(98), b.test(99)]).toEqual([true, false, false, true]);
    expect(() => a.or(new DirtyBitmap(101))).toThrow(/cannot be combined/);
  });

  it('round-trips through the run-length form, sparse, dense and random', () => {
    for (const bits of [1, 31, 32, 33, 1000, 100_003]) {
      for (const density of [0, 0.001, 0.5, 0.999, 1]) {
        const b = new DirtyBitmap(bits);
        let x = 12345;
        for (let i = 0; i < bits; i++) {
          x = (x * 1103515245 + 12345) >>> 0;
          if (x / 2 ** 32 < density) b.set(i);
        }
        const back = DirtyBitmap.fromRuns(bits, b.toRuns());
        expect(back.words).toEqual(b.words);
        expect(back.count()).toBe(b.count());
      }
    }
  });

  it('serves a 1 TiB guest: 2^28 pages in one bit each, sparse bits found, counted and encoded small', () => {
    const pages = 2 ** 28; // 1 TiB of 4 KiB pages
    const live = DirtyBitmap.shared(pages);
    expect(live.words.byteLength).toBe(32 * 1024 * 1024);
    const chosen = [0, 1, 31, 32, 4095, 1_000_000, 123_456_789, pages - 2, pages - 1];
    for (const p of chosen) live.set(p);
    const round = new DirtyBitmap(pages);
    expect(round.takeFrom(live)).toBe(chosen.length);
    expect(live.count()).toBe(0);
    const seen: number[] = [];
    for (let i = round.nextSet(0); i >= 0; i = round.nextSet(i + 1)) seen.push(i);
    expect(seen).toEqual(chosen);
    const runs = round.toRuns();
    expect(runs.byteLength).toBeLessThan(100);
    const back = DirtyBitmap.fromRuns(pages, runs).words;
    // Compared as bytes: a deep equality over 8M words would take the test's whole budget.
    expect(Buffer.compare(Buffer.from(back.buffer), Buffer.from(round.words.buffer))).toBe(0);
  });

  it('rejects run-length forms that are truncated, too long or cover the wrong number of bits', () => {
    const b = new DirtyBitmap(100);
    b.setRange(10, 20);
    const runs = b.toRuns();
    expect(() => DirtyBitmap.fromRuns(101, runs)).toThrow(expect.objectContaining({ code: 'FERRY_FRAME_MALFORMED' }));
    expect(() => DirtyBitmap.fromRuns(99, runs)).toThrow(expect.objectContaining({ code: 'FERRY_FRAME_MALFORMED' }));
    expect(() => DirtyBitmap.fromRuns(100, Uint8Array.of(0x80))).toThrow(expect.objectContaining({ code: 'FERRY_FRAME_MALFORMED' }));
    expect(() => DirtyBitmap.fromRuns(100, Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0x01))).toThrow(
      expect.objectContaining({ code: 'FERRY_FRAME_MALFORMED' }),
    );
  });
});
