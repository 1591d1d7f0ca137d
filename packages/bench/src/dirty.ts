import {
  DirtyBitmap,
  GuestMemory,
  HashScanTracker,
  KernelWriteTracker,
  loadKernels,
  WriteBarrier,
  WriteBarrierTracker,
} from '@ferry/engine';
import { Bench } from 'tinybench';
import { printTable, writeResult } from './output.ts';

/**
 * Dirty-tracking costs: the write-barrier sync of a 1 TiB-equivalent bitmap (2^28 pages, 32 MiB
 * of words) with a sparse set of dirty pages, beside a plain read of the same words (the floor:
 * a sync must at least look at every word); and a hash-scan sync of real memory, beside the
 * fingerprint kernel alone, on one thread, on the same memory; and the kernel write tracker (userfaultfd asynchronous
 * write protection): the guest-side cost of a write fault, as the difference between writing
 * one byte to each of N protected pages and to the same pages unprotected, beside the write
 * barrier's guest-side cost (Atomics.or per write), and the cost of its sync.
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
    .add(`fingerprint kernel alone, 1 thread, ${o.scanMiB} MiB`, () => {
      kernels.fingerprintPages(memory.region(0).bytes, 4096, hashes, zero);
    })
    .add(`hash-scan tracker sync, ${o.scanMiB} MiB`, async () => {
      await scanTracker.sync(0, scanInto);
    });
  const kernel = addKernelWriteTasks(bench, o.scanMiB);
  await bench.run();
  kernel?.memory.unmap();
  const rows = bench.tasks.map((t) => {
    const r = t.result;
    return r.state === 'completed'
      ? { task: t.name, 'mean ms': r.latency.mean, 'p99 ms': r.latency.p99, samples: r.latency.samplesCount }
      : { task: t.name, 'mean ms': Number.NaN, 'p99 ms': Number.NaN, samples: 0 };
  });
  printTable(rows);
  const mean = (name: string): number => rows.find((r) => r.task === name)?.['mean ms'] ?? Number.NaN;
  let faults: Record<string, number> | undefined;
  if (kernel) {
    const plain = mean(kernel.names.plain);
    faults = {
      writes: kernel.writes,
      faultUs: ((mean(kernel.names.faulting) - plain) * 1000) / kernel.writes,
      barrierUs: ((mean(kernel.names.barrier) - plain) * 1000) / kernel.writes,
    };
    console.log(
      `kernel write tracking: ${faults.faultUs!.toFixed(3)} µs per write fault; write barrier ${faults.barrierUs!.toFixed(3)} µs per marked write`,
    );
  } else {
    console.log(`kernel write tracking skipped: ${KernelWriteTracker.support().reason}`);
  }
  console.log(`wrote ${writeResult('dirty', { rows, dirtyPerSync, scanMiB: o.scanMiB, faults })}`);
}

/**
 * Tasks for the kernel write tracker on `sizeMiB` of mapped memory, or undefined where it
 * cannot run. Each task writes one byte to each of `writes` pages spread over the memory.
 */
function addKernelWriteTasks(bench: Bench, sizeMiB: number) {
  if (!KernelWriteTracker.support().available) return undefined;
  const memory = GuestMemory.map({ regions: [{ name: 'ram0', sizeBytes: sizeMiB * 2 ** 20 }] });
  const bytes = memory.region(0).bytes;
  bytes.fill(1); // populated: the faults measured are protection faults, not first touches
  const pages = memory.region(0).pageCount;
  const writes = Math.min(16_384, pages);
  const stride = Math.floor(pages / writes);
  let value = 0;
  const writeAll = (): void => {
    value = (value + 1) & 0xff;
    for (let i = 0; i < writes; i++) bytes[i * stride * 4096 + (i & 4095)] = value;
  };
  const tracker = new KernelWriteTracker(memory);
  const into = new DirtyBitmap(pages);
  const barrierTracker = new WriteBarrierTracker(memory.layout);
  const barrier = new WriteBarrier(barrierTracker.sharedBuffers(), 4096);
  const names = {
    plain: `write ${writes} pages, untracked`,
    barrier: `write ${writes} pages + write-barrier mark`,
    faulting: `write ${writes} pages, kernel-protected (1 fault each)`,
    syncDirty: `kernel-write sync, ${sizeMiB} MiB, ${writes} dirty`,
    syncClean: `kernel-write sync, ${sizeMiB} MiB, clean`,
  };
  bench
    .add(names.plain, writeAll)
    .add(names.barrier, () => {
      value = (value + 1) & 0xff;
      for (let i = 0; i < writes; i++) {
        bytes[i * stride * 4096 + (i & 4095)] = value;
        barrier.markPage(0, i * stride);
      }
    })
    .add(names.faulting, writeAll, {
      beforeAll: () => tracker.start(),
      beforeEach: () => {
        tracker.sync(0, into); // re-protects every page written last time
      },
      afterAll: () => tracker.stop(),
    })
    .add(names.syncDirty, () => tracker.sync(0, into), {
      beforeAll: () => tracker.start(),
      beforeEach: () => {
        into.clearAll();
        writeAll();
      },
      afterAll: () => tracker.stop(),
    })
    .add(names.syncClean, () => tracker.sync(0, into), {
      beforeAll: () => {
        tracker.start();
        tracker.sync(0, into);
      },
      afterAll: () => tracker.stop(),
    });
  return { memory, names, writes };
}
