import { Bench } from 'tinybench';
import { loadKernels } from '@ferry/engine';
import { printTable, writeResult } from './output.ts';

/**
 * Page-scan throughput: the hash-scan tracker's native kernel (xxh3 fingerprints and zero
 * pages, one thread, and two off-thread halves at once), the xxh64 checksum scan, the
 * xxhash-wasm fallback, and two baselines measured on the same buffer in the same run: a
 * native linear read (memchr for a byte that is absent) and a native copy. Reported in GB/s
 * and as ratios to the read baseline, the physical limit of a scan.
 */
export async function scanBench(options: { sizeMiB: number; timeMs: number }): Promise<void> {
  const PAGE = 4096;
  const bytes = options.sizeMiB * 2 ** 20;
  const memory = Buffer.from(new SharedArrayBuffer(bytes));
  // Pseudo-random content without the byte 0xff (so memchr reads it all), a quarter of pages zero.
  let x = 0x2545_f491;
  for (let i = 0; i < bytes; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    memory.writeUInt32LE((x >>> 0) & 0x7f7f_7f7f, i);
  }
  for (let p = 0; p < bytes / PAGE; p += 4) memory.fill(0, p * PAGE, (p + 1) * PAGE);
  const copyTarget = Buffer.alloc(bytes);
  const pages = bytes / PAGE;
  const hashes = new BigUint64Array(pages);
  const zeroBits = new Uint32Array(Math.ceil(pages / 32));
  const native = await loadKernels({ native: true });
  const js = await loadKernels({ native: false });
  const half = bytes / 2;

  const bench = new Bench({ time: options.timeMs, warmupTime: 200 });
  bench
    .add('read baseline (memchr)', () => {
      if (memory.indexOf(0xff) !== -1) throw new Error('baseline found its sentinel');
    })
    .add('copy baseline (memcpy)', () => {
      memory.copy(copyTarget);
    })
    .add('native fingerprintPages (xxh3), 1 thread', () => {
      native.fingerprintPages(memory, PAGE, hashes, zeroBits);
    })
    .add('native fingerprintPagesAsync, 2 threads', async () => {
      await Promise.all([
        native.fingerprintPagesAsync!(memory.subarray(0, half), PAGE, hashes.subarray(0, pages / 2), zeroBits.subarray(0, pages / 64)),
        native.fingerprintPagesAsync!(memory.subarray(half), PAGE, hashes.subarray(pages / 2), zeroBits.subarray(pages / 64)),
      ]);
    })
    .add('native scanPages (xxh64), 1 thread', () => {
      native.scanPages(memory, PAGE, hashes, zeroBits);
    })
    .add('js scanPages (xxhash-wasm)', () => {
      js.scanPages(memory, PAGE, hashes, zeroBits);
    });
  console.log(`scan: ${options.sizeMiB} MiB, ${options.timeMs} ms per task`);
  await bench.run();

  const gbps = (name: string): number => {
    const task = bench.getTask(name);
    const r = task?.result;
    if (!r || (r.state !== 'completed' && r.state !== 'aborted-with-statistics')) throw new Error(`${name} did not complete`);
    return bytes / (r.latency.mean / 1000) / 1e9;
  };
  const read = gbps('read baseline (memchr)');
  const single = gbps('native fingerprintPages (xxh3), 1 thread');
  const rows = bench.tasks.map((t) => {
    const r = t.result;
    const rme = r.state === 'completed' ? r.latency.rme : Number.NaN;
    return {
      task: t.name,
      'GB/s': gbps(t.name),
      'x read': gbps(t.name) / read,
      'rme %': rme,
      samples: r.state === 'completed' ? r.latency.samplesCount : 0,
    };
  });
  printTable(rows);
  const ratios = {
    nativeVsRead: single / read,
    twoThreadsVsOne: gbps('native fingerprintPagesAsync, 2 threads') / single,
    nativeVsJs: single / gbps('js scanPages (xxhash-wasm)'),
    checksumScanVsRead: gbps('native scanPages (xxh64), 1 thread') / read,
    /** The most any scan could beat the fallback by: the read limit over the fallback's speed. */
    readVsJs: read / gbps('js scanPages (xxhash-wasm)'),
  };
  console.log(
    `native/read ${ratios.nativeVsRead.toFixed(2)}  2 threads/1 ${ratios.twoThreadsVsOne.toFixed(2)}  native/js ${ratios.nativeVsJs.toFixed(2)} (read/js, the ceiling: ${ratios.readVsJs.toFixed(2)})`,
  );
  console.log(`wrote ${writeResult('scan', { sizeMiB: options.sizeMiB, rows, ratios })}`);
}
