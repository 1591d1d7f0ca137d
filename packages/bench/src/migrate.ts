import net from 'node:net';
import { GuestMemory, type MigrateOptions, type MigrationReport, migrate, type TlsOptions, WriteBarrierTracker } from '@ferry/engine';
import { WriterGuest, writePattern } from '@ferry/engine/testing';
import { spawnHost } from './hosts/spawn.ts';
import { printTable, writeChart, writeResult } from './output.ts';

export interface MigrateBenchOptions {
  readonly sizeMiB: number;
  /** Guest dirty rates to run, in pages per second. */
  readonly rates: readonly number[];
  readonly repeats: number;
  /** Fraction of pages written before the migration, so round 0 carries real data. */
  readonly fillFraction: number;
  /** Fraction of memory the guest keeps writing to. */
  readonly workingSet: number;
  readonly maxDowntimeMs: number;
  readonly verify: 'memory' | 'sent';
  /** Hide the tracker's syncRange, to measure what taking dirty bits just before sending saves. */
  readonly noTakeBeforeSend?: boolean;
}

interface Run {
  readonly dirtyPagesPerSec: number;
  readonly repeat: number;
  readonly report: MigrationReport;
  /** Time to push the same number of bytes through a plain TCP socket between two processes. */
  readonly rawPipeMs: number;
}

/**
 * Scenario benchmark: a real migration between this process (source, guest in a worker) and
 * a destination process, for each dirty rate; beside each, the physical limit measured in the
 * same run: the same bytes through a raw socket to another process.
 */
export async function migrateBench(o: MigrateBenchOptions): Promise<void> {
  const runs: Run[] = [];
  const started = performance.now();
  const total = o.rates.length * o.repeats;
  for (const rate of o.rates) {
    for (let repeat = 0; repeat < o.repeats; repeat++) {
      const report = await oneMigration(o, rate);
      const rawPipeMs = await rawPipe(report.bytesSent);
      runs.push({ dirtyPagesPerSec: rate, repeat, report, rawPipeMs });
      const elapsed = ((performance.now() - started) / 1000).toFixed(0);
      console.log(
        `[${runs.length}/${total}, ${elapsed} s] ${rate} pages/s: downtime ${report.downtimeMs.toFixed(1)} ms, total ${report.totalMs.toFixed(0)} ms ` +
          `(raw pipe ${rawPipeMs.toFixed(0)} ms), ${(report.bytesSent / 2 ** 20).toFixed(1)} MiB, ${report.rounds.length} rounds`,
      );
    }
  }
  const rows = runs.map((r) => ({
    'pages/s': r.dirtyPagesPerSec,
    rep: r.repeat,
    'downtime ms': r.report.downtimeMs,
    'final pages': r.report.finalRoundPages,
    'final ms': r.report.downtime.finalRoundMs,
    'digest ms': r.report.downtime.digestMs,
    'handover ms': r.report.downtime.handoverMs,
    'total ms': r.report.totalMs,
    'raw ms': r.rawPipeMs,
    'total/raw': r.report.totalMs / r.rawPipeMs,
    MiB: r.report.bytesSent / 2 ** 20,
    rounds: r.report.rounds.length,
  }));
  printTable(rows);
  const name = `migrate-${o.verify}${o.noTakeBeforeSend ? '-notake' : ''}`;
  const points = (series: string, f: (r: Run) => number) => runs.map((r) => ({ series, x: r.dirtyPagesPerSec, y: f(r) }));
  const svg = await writeChart(name, {
    title: `Pre-copy, ${o.sizeMiB} MiB guest, verify ${o.verify} (log scale)`,
    subtitle: `every run a point (${o.repeats} per rate), the line through the medians; the raw pipe is the floor`,
    x: { title: 'guest dirty rate (pages/s)' },
    y: { title: 'milliseconds', scale: 'log' },
    points: [
      ...points('downtime', (r) => r.report.downtimeMs),
      ...points('total time', (r) => r.report.totalMs),
      ...points('raw pipe, same bytes', (r) => r.rawPipeMs),
    ],
    rules: [{ y: o.maxDowntimeMs, label: `downtime limit ${o.maxDowntimeMs} ms` }],
  });
  console.log(`wrote ${svg}`);
  console.log(
    `wrote ${writeResult(`migrate-${o.verify}${o.noTakeBeforeSend ? '-notake' : ''}`, { options: o, rows, runs: runs.map((r) => ({ ...r, report: { ...r.report } })) })}`,
  );
}

function oneMigration(o: MigrateBenchOptions, rate: number): Promise<MigrationReport> {
  return runMigration({
    sizeMiB: o.sizeMiB,
    fill: (memory) => {
      const pages = memory.region(0).pageCount;
      for (let p = 0; p < pages * o.fillFraction; p++) writePattern(memory.page(0, p), p, 1);
    },
    dirtyPagesPerSec: rate,
    workingSet: o.workingSet,
    options: { maxDowntimeMs: o.maxDowntimeMs, verify: o.verify },
    noTakeBeforeSend: o.noTakeBeforeSend ?? false,
  });
}

export interface Scenario {
  readonly sizeMiB: number;
  /** Writes the guest's memory before the migration starts. */
  readonly fill: (memory: GuestMemory) => void;
  readonly dirtyPagesPerSec: number;
  readonly workingSet: number;
  /** Bytes each guest write changes (0: whole pages). */
  readonly writeBytes?: number;
  readonly pattern?: 'random' | 'sequential';
  /** Passed to migrate(). */
  readonly options: Partial<MigrateOptions>;
  readonly noTakeBeforeSend?: boolean;
  /** The destination's TLS credentials (the source's go in `options.tls`). */
  readonly destinationTls?: TlsOptions;
  /** Run the destination in this network namespace (a shaped link), listening on `address`. */
  readonly link?: { readonly netns: string; readonly address: string };
  /** Runs once the guest writes, just before migrate(): for `plan()` on the same guest and link. */
  readonly beforeMigrate?: (ctx: { memory: GuestMemory; tracker: WriteBarrierTracker; port: number }) => Promise<void>;
}

/** One real migration: guest in a worker here, destination in its own process. */
export async function runMigration(s: Scenario): Promise<MigrationReport> {
  const memory = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: s.sizeMiB * 2 ** 20 }] });
  s.fill(memory);
  const tracker = new WriteBarrierTracker(memory.layout);
  const guest = new WriterGuest(memory, tracker, {
    pagesPerSec: s.dirtyPagesPerSec,
    workingSetFraction: s.workingSet,
    writeBytes: s.writeBytes ?? 0,
    pattern: s.pattern ?? 'random',
  });
  const env: Record<string, string> = s.destinationTls ? { FERRY_BENCH_TLS: JSON.stringify(s.destinationTls) } : {};
  if (s.link) env.FERRY_BENCH_LISTEN = s.link.address;
  const host = await spawnHost('./destination-host.ts', env, s.link?.netns);
  try {
    await guest.ready;
    await new Promise((r) => setTimeout(r, 300));
    await s.beforeMigrate?.({ memory, tracker, port: host.port });
    const report = await migrate({
      ...s.options,
      host: s.link?.address ?? '127.0.0.1',
      // A shaped link's address is the bench's private network namespace (link/shaped-link.ts).
      insecure: s.link !== undefined,
      port: host.port,
      memory,
      tracker: s.noTakeBeforeSend
        ? { kind: tracker.kind, start: () => tracker.start(), stop: () => tracker.stop(), sync: (r, into) => tracker.sync(r, into) }
        : tracker,
      controlPlane: guest.controlPlane(),
    });
    await host.next('resumed');
    return report;
  } finally {
    await guest.stop();
    host.child.kill();
  }
}

export async function rawPipe(bytes: number, link?: { netns: string; address: string }): Promise<number> {
  const sink = await spawnHost('./sink.ts', link ? { FERRY_BENCH_LISTEN: link.address } : {}, link?.netns);
  const chunk = Buffer.alloc(2 ** 20, 0x5a);
  const start = performance.now();
  const socket = net.connect(sink.port, link?.address ?? '127.0.0.1');
  await new Promise((r) => socket.once('connect', r));
  let left = bytes;
  while (left > 0) {
    const n = Math.min(left, chunk.byteLength);
    if (!socket.write(n === chunk.byteLength ? chunk : chunk.subarray(0, n))) await new Promise((r) => socket.once('drain', r));
    left -= n;
  }
  socket.end();
  await sink.next('done');
  return performance.now() - start;
}
