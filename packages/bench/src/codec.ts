import { loadKernels } from '@ferry/engine';
import { compressSync, uncompressSync } from 'lz4-napi';
import { Bench } from 'tinybench';
import { type CorpusName, corpus, textPage } from './corpus.ts';
import { rawPipe, runMigration } from './migrate.ts';
import { printTable, writeResult } from './output.ts';
import { median } from './stats.ts';

const PS = 4096;

/**
 * Codec benchmarks. Micro: throughput (GB/s of page input) and ratio of each codec on each
 * corpus, with zero-page scanning as the baseline every other codec adds to. End to end: real
 * migrations of compressible memory with compression off and adaptive, uncapped and on a link
 * capped at 1 Gbit/s, in the same run.
 */
export async function codecBench(o: {
  pages: number;
  timeMs: number;
  e2eSizeMiB: number;
  cappedSizeMiB: number;
  repeats: number;
}): Promise<void> {
  const native = await loadKernels({ native: true });
  const js = await loadKernels({ native: false });
  const rows: Record<string, string | number>[] = [];
  for (const name of ['zero', 'text', 'random', 'redirtied'] as CorpusName[]) {
    const { current, previous } = corpus(name, o.pages, PS);
    const bytes = current.byteLength;
    const hashes = new BigUint64Array(o.pages);
    const zeroBits = new Uint32Array(Math.ceil(o.pages / 32));
    const out = new Uint8Array(PS / 2);
    let lz4Bytes = 0;
    const compressed: Buffer[] = [];
    for (let p = 0; p < o.pages; p++) {
      const c = compressSync(current.subarray(p * PS, (p + 1) * PS));
      lz4Bytes += c.byteLength;
      compressed.push(c);
    }
    let xbzrleBytes = 0;
    let xbzrleFallbacks = 0;
    for (let p = 0; p < o.pages; p++) {
      const n = native.xbzrleEncode(previous.subarray(p * PS, (p + 1) * PS), current.subarray(p * PS, (p + 1) * PS), out);
      if (n < 0) xbzrleFallbacks++;
      else xbzrleBytes += n;
    }
    const bench = new Bench({ time: o.timeMs, warmupTime: 100 });
    bench.add('scan (zero + xxh64), native', () => {
      native.scanPages(current, PS, hashes, zeroBits);
    });
    bench.add('lz4 compress (lz4-napi)', () => {
      for (let p = 0; p < o.pages; p++) compressSync(current.subarray(p * PS, (p + 1) * PS));
    });
    bench.add('lz4 decompress (lz4-napi)', () => {
      for (const c of compressed) uncompressSync(c);
    });
    for (const k of [native, js]) {
      bench.add(`xbzrle encode, ${k.name}`, () => {
        for (let p = 0; p < o.pages; p++)
          k.xbzrleEncode(previous.subarray(p * PS, (p + 1) * PS), current.subarray(p * PS, (p + 1) * PS), out);
      });
    }
    await bench.run();
    const gbps = (task: string): number => {
      const r = bench.getTask(task)?.result;
      if (r?.state !== 'completed') return Number.NaN;
      return bytes / (r.latency.mean / 1000) / 1e9;
    };
    rows.push({
      corpus: name,
      'scan GB/s': gbps('scan (zero + xxh64), native'),
      'lz4 GB/s': gbps('lz4 compress (lz4-napi)'),
      'lz4 ratio': lz4Bytes / bytes,
      'unlz4 GB/s': gbps('lz4 decompress (lz4-napi)'),
      'xbzrle native GB/s': gbps('xbzrle encode, native'),
      'xbzrle js GB/s': gbps('xbzrle encode, js'),
      'xbzrle ratio': xbzrleFallbacks === o.pages ? 'n/a' : xbzrleBytes / ((o.pages - xbzrleFallbacks) * PS),
      'xbzrle fallbacks': xbzrleFallbacks,
    });
    console.log(`codec: ${name} done`);
  }
  printTable(rows);

  // The target: a re-dirtied page with 64 or fewer changed bytes encodes to at most 150 bytes.
  const shapes: Record<string, string | number>[] = [];
  for (const [shape, runs] of [
    ['64 contiguous bytes', 1],
    ['8 runs of 8 bytes', 8],
    ['16 runs of 4 bytes', 16],
    ['64 scattered bytes', 64],
  ] as const) {
    const old = Buffer.alloc(PS);
    textPage(old, 3);
    const cur = Buffer.from(old);
    const len = 64 / runs;
    for (let r = 0; r < runs; r++) {
      const at = Math.floor((r * PS) / runs) + 17;
      for (let b = 0; b < len; b++) cur[at + b] = cur[at + b]! ^ 0x5a;
    }
    const n = native.xbzrleEncode(old, cur, new Uint8Array(PS));
    shapes.push({
      'changed bytes': shape,
      'xbzrle payload bytes': n,
      'with 20-byte entry': n + 20,
      'lz4 bytes': compressSync(cur).byteLength,
    });
  }
  printTable(shapes);

  // End to end, same run: compression off vs adaptive, uncapped and capped at 1 Gbit/s.
  const e2e: Record<string, string | number>[] = [];
  const fillText = (memory: import('@ferry/engine').GuestMemory): void => {
    for (let p = 0; p < memory.region(0).pageCount; p++) textPage(memory.page(0, p), p);
  };
  // Third scenario: a guest that updates 64 bytes at a time in a quarter of memory, fast enough
  // that pre-copy needs several rounds on a 1 Gbit/s link; XBZRLE deltas are for this.
  const scenarios = [
    ['uncapped loopback', o.e2eSizeMiB, 0, 2000, 0.05, 0],
    ['1 Gbit/s cap', o.cappedSizeMiB, 125_000_000, 2000, 0.05, 0],
    ['1 Gbit/s cap, 64-byte writes', o.cappedSizeMiB, 125_000_000, 20_000, 0.25, 64],
  ] as const;
  for (const [link, sizeMiB, cap, rate, workingSet, writeBytes] of scenarios) {
    for (let rep = 0; rep < o.repeats; rep++) {
      for (const compression of ['off', 'adaptive'] as const) {
        const report = await runMigration({
          sizeMiB,
          fill: fillText,
          dirtyPagesPerSec: rate,
          workingSet,
          writeBytes,
          options: { compression, maxBandwidth: cap, verify: 'sent', maxDowntimeMs: 50 },
        });
        const row = {
          link,
          rep,
          compression,
          'total ms': report.totalMs,
          'downtime ms': report.downtimeMs,
          MiB: report.bytesSent / 2 ** 20,
          'raw pipe ms': cap ? (report.bytesSent / cap) * 1000 : await rawPipe(report.bytesSent),
          lz4: report.codecs.pages.lz4,
          xbzrle: report.codecs.pages.xbzrle,
          dedup: report.codecs.pages.dedup,
          raw: report.codecs.pages.raw,
          rounds: report.rounds.length,
        };
        e2e.push(row);
        console.log(
          `[${link} ${compression} #${rep}] total ${report.totalMs.toFixed(0)} ms, ${(report.bytesSent / 2 ** 20).toFixed(1)} MiB, downtime ${report.downtimeMs.toFixed(1)} ms`,
        );
      }
    }
  }
  printTable(e2e);
  const summary: Record<string, number> = {};
  for (const [link] of scenarios) {
    const off = e2e.filter((r) => r.link === link && r.compression === 'off');
    const ad = e2e.filter((r) => r.link === link && r.compression === 'adaptive');
    summary[`${link}: adaptive/off total time`] =
      median(ad.map((r) => r['total ms'] as number)) / median(off.map((r) => r['total ms'] as number));
    summary[`${link}: off/adaptive bytes`] = median(off.map((r) => r.MiB as number)) / median(ad.map((r) => r.MiB as number));
  }
  for (const [k, v] of Object.entries(summary)) console.log(`${k}: ${v.toFixed(3)}`);
  console.log(`wrote ${writeResult('codec', { options: o, micro: rows, shapes, e2e, summary })}`);
}
