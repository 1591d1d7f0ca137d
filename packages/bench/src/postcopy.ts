import { GuestMemory, type MigrateOptions, type MigrationReport, migrate, WriteBarrierTracker } from '@ferry/engine';
import { WriterGuest, writePattern } from '@ferry/engine/testing';
import type { ChartPoint } from './chart.ts';
import { spawnHost } from './hosts/spawn.ts';
import { printTable, writeChart, writeResult } from './output.ts';

export interface PostcopyBenchOptions {
  /** Guest sizes for downtime against size, MiB. */
  readonly sizesMiB: readonly number[];
  /** Guest size of the fault-latency, non-converging and pre-paging scenarios, MiB. */
  readonly sizeMiB: number;
  readonly repeats: number;
}

interface GuestFigures {
  readonly waitsUs: number[];
  readonly touchesPer100ms: number[];
}

interface Outcome {
  readonly report: MigrationReport;
  readonly guest: GuestFigures | undefined;
  readonly engine: { faults: number; p50Ms: number; p99Ms: number; maxMs: number } | undefined;
}

const quantile = (xs: readonly number[], q: number): number => {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};
const median = (xs: readonly number[]): number => quantile(xs, 0.5);

/** One migration from this process to a destination process that may run a post-copy guest. */
async function run(o: {
  sizeMiB: number;
  options: Partial<MigrateOptions>;
  faults?: 'none' | 'cooperative' | 'userfaultfd';
  pattern?: 'random' | 'sequential' | 'runs';
  /** A source guest writing this many pages per second (0: idle). */
  dirtyPagesPerSec?: number;
}): Promise<Outcome> {
  const memory = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: o.sizeMiB * 2 ** 20 }] });
  for (let p = 0; p < memory.region(0).pageCount; p++) writePattern(memory.page(0, p), p, 1);
  const tracker = new WriteBarrierTracker(memory.layout);
  const writer = o.dirtyPagesPerSec
    ? new WriterGuest(memory, tracker, { pagesPerSec: o.dirtyPagesPerSec, workingSetFraction: 1 })
    : undefined;
  const host = await spawnHost('./postcopy-destination-host.ts', {
    FERRY_BENCH_FAULTS: o.faults ?? 'none',
    FERRY_BENCH_PATTERN: o.pattern ?? 'random',
  });
  try {
    if (writer) {
      await writer.ready;
      await new Promise((r) => setTimeout(r, 300));
    }
    const report = await migrate({
      ...o.options,
      host: '127.0.0.1',
      port: host.port,
      memory,
      tracker,
      controlPlane: writer ? writer.controlPlane() : { pause: () => {}, resume: () => {}, saveDeviceState: () => new Uint8Array(4096) },
    });
    const done = (await host.next('resumed')) as { postcopy?: Outcome['engine']; guest?: GuestFigures };
    return { report, guest: done.guest, engine: done.postcopy };
  } finally {
    await writer?.stop();
    host.child.kill();
  }
}

/**
 * Post-copy scenarios, each against its baseline in the same run: downtime against guest size
 * (post-copy beside pre-copy of the same idle guest); demand-fault latency for both ways a
 * guest can wait; a guest that dirties memory faster than the link carries it, moved by
 * pre-copy (forced to stop after its rounds), hybrid and post-copy; and pre-paging on and off.
 */
export async function postcopyBench(o: PostcopyBenchOptions): Promise<void> {
  const started = performance.now();
  const log = (what: string): void => console.log(`[${((performance.now() - started) / 1000).toFixed(0)} s] ${what}`);

  // 1. Downtime against size.
  const sizeRows: Record<string, number | string>[] = [];
  const sizePoints: ChartPoint[] = [];
  for (const sizeMiB of o.sizesMiB) {
    for (const strategy of ['postcopy', 'precopy'] as const) {
      const downtimes: number[] = [];
      const totals: number[] = [];
      for (let i = 0; i < o.repeats; i++) {
        const { report } = await run({ sizeMiB, options: { strategy } });
        downtimes.push(report.downtimeMs);
        totals.push(report.totalMs);
        sizePoints.push({ series: strategy === 'postcopy' ? 'post-copy' : 'pre-copy', x: sizeMiB, y: report.downtimeMs });
        log(`${sizeMiB} MiB ${strategy}: downtime ${report.downtimeMs.toFixed(1)} ms, total ${report.totalMs.toFixed(0)} ms`);
      }
      sizeRows.push({ MiB: sizeMiB, strategy, 'downtime ms': median(downtimes), 'total ms': median(totals) });
    }
  }
  printTable(sizeRows);
  const svg = await writeChart('postcopy-downtime', {
    title: 'Downtime against guest size, idle guest (log scales)',
    subtitle: `every run a point (${o.repeats} per size), the line through the medians; pre-copy with verify: 'memory'`,
    x: { title: 'guest memory (MiB)', scale: 'log', base: 2 },
    y: { title: 'downtime (ms)', scale: 'log' },
    points: sizePoints,
    series: ['post-copy', 'pre-copy'],
  });
  console.log(`wrote ${svg}`);

  // 2. Demand-fault latency: the push is capped so the guest asks for most of what it touches.
  const faultRows: Record<string, number | string>[] = [];
  for (const faults of ['cooperative', 'userfaultfd'] as const) {
    const { report, guest, engine } = await run({
      sizeMiB: o.sizeMiB,
      options: { strategy: 'postcopy', maxBandwidth: 200e6 },
      faults,
    });
    const waits = guest?.waitsUs ?? [];
    faultRows.push({
      wait: faults,
      faults: waits.length,
      'guest p50 µs': quantile(waits, 0.5),
      'guest p99 µs': quantile(waits, 0.99),
      'guest max µs': quantile(waits, 1),
      'engine p50 µs': (engine?.p50Ms ?? Number.NaN) * 1000,
      'engine p99 µs': (engine?.p99Ms ?? Number.NaN) * 1000,
      'downtime ms': report.downtimeMs,
      'total ms': report.totalMs,
    });
    log(`faults ${faults}: ${waits.length} waits, p99 ${quantile(waits, 0.99).toFixed(0)} µs`);
  }
  printTable(faultRows);

  // 3. A guest that outruns the link: 40k pages/s (164 MB/s) over a 100 MB/s cap.
  const heavyRows: Record<string, number | string>[] = [];
  for (const strategy of ['precopy', 'hybrid', 'postcopy'] as const) {
    const { report } = await run({
      sizeMiB: o.sizeMiB,
      options: { strategy, maxBandwidth: 100e6, maxRounds: 8, maxDowntimeMs: 50 },
      dirtyPagesPerSec: 40_000,
    });
    heavyRows.push({
      strategy,
      'downtime ms': report.downtimeMs,
      'total ms': report.totalMs,
      MiB: report.bytesSent / 2 ** 20,
      rounds: report.rounds.length,
      'pages during downtime': report.finalRoundPages,
      'post-copy pages': (report.postcopy?.requestedPages ?? 0) + (report.postcopy?.pushedPages ?? 0),
    });
    log(`outrunning guest, ${strategy}: downtime ${report.downtimeMs.toFixed(1)} ms, total ${report.totalMs.toFixed(0)} ms`);
  }
  printTable(heavyRows);

  // 4. Pre-paging: a guest reading runs of pages from random places, with and without pushing from each fault on.
  const prepagingRows: Record<string, number | string>[] = [];
  for (const prepaging of [true, false]) {
    const { report, guest } = await run({
      sizeMiB: o.sizeMiB,
      options: { strategy: 'postcopy', maxBandwidth: 200e6, prepaging },
      faults: 'cooperative',
      pattern: 'runs',
    });
    const waits = guest?.waitsUs ?? [];
    const touches = guest?.touchesPer100ms ?? [];
    prepagingRows.push({
      prepaging: String(prepaging),
      faults: waits.length,
      'p99 µs': quantile(waits, 0.99),
      'guest touches/s': touches.length ? (touches.reduce((a, b) => a + b, 0) / touches.length) * 10 : Number.NaN,
      'total ms': report.totalMs,
    });
    log(`pre-paging ${prepaging}: ${waits.length} faults`);
  }
  printTable(prepagingRows);
  console.log(`wrote ${writeResult('postcopy', { options: o, sizeRows, faultRows, heavyRows, prepagingRows })}`);
}
