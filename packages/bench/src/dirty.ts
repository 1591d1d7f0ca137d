import { DirtyBitmap, GuestMemory, HashScanTracker, loadKernels, WriteBarrier, WriteBarrierTracker } from '@ferry/engine';
import { Bench } from 'tinybench';
import { printTable, writeResult } from './output.ts';

/**
 * Dirty-tracking costs: the write-barrier sync of a 1 TiB-equivalent bitmap (2^28 pages, 32 MiB
 * of words) with a sparse set of dirty pages, beside a plain read of the same words (the floor:
 * a sync must at least look at every word); and a hash-scan sync of real memory, beside the
 * scan kernel alone on the same memory.
 */
export async function dirtyBench(o: { timeMs: number; scanMiB: number }): Promise<void> {
  const pages = 2 ** 28;
  const layout = { pageSize: 4096, regions: [{ name: 'ram0', sizeBytes: pages * 4096 }] };
  const tracker = new WriteBarrierTracker(layout);
  const barrier = new WriteBarrier(tracker.sharedBuffers(), 4096);
  const into = new DirtyBitmap(pages);
  const words = tracker.bitmaps[0]!.words;
  const dirtyPerSync = 10_000;
  let x = 7;
  const mark = (): void => {
    for (let i = 0; i < dirtyPerSync; i++) {
      x = (x * 1103515245 + 12345) >>> 0;
      barrier.markPage(0, x % pages);
    }
  };

  const memory = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: o.scanMiB * 2 ** 20 }] });
  memory.region(0).bytes.fill(1);
  const kernels = await loadKernels();
  const scanTracker = new HashScanTracker(memory, kernels);
  await scanTracker.start();
  const scanInto = new DirtyBitmap(memory.region(0).pageCount);
  const hashes = new BigUint64Array(memory.region(0).pageCount);
  const zero = new Uint32Array(Math.ceil(memory.region(0).pageCount / 32));

  const bench = new Bench({ time: o.timeMs, warmupTime: 100 });
  bench
    .add('read 32 MiB of bitmap words (floor)', () => {
      let acc = 0;
      for (let i = 0; i < words.length; i++) acc |= words[i]!;
      if (acc === 0x5a5a5a5a) console.log('');
    })
    .add(`write-barrier sync, 1 TiB bitmap, ${dirtyPerSync} dirty`, () => tracker.sync(0, into), {
      beforeEach: () => {
        mark();
        into.clearAll();
      },
    })
    .add(`scan kernel alone, ${o.scanMiB} MiB`, () => {
      kernels.scanPages(memory.region(0).bytes, 4096, hashes, zero);
    })
    .add(`hash-scan tracker sync, ${o.scanMiB} MiB`, async () => {
      await scanTracker.sync(0, scanInto);
    });
  await bench.run();
  const rows = bench.tasks.map((t) => {
    const r = t.result;
    return r.state === 'completed'
      ? { task: t.name, 'mean ms': r.latency.mean, 'p99 ms': r.latency.p99, samples: r.latency.samplesCount }
      : { task: t.name, 'mean ms': Number.NaN, 'p99 ms': Number.NaN, samples: 0 };
  });
  printTable(rows);
  console.log(`wrote ${writeResult('dirty', { rows, dirtyPerSync, scanMiB: o.scanMiB })}`);
}
