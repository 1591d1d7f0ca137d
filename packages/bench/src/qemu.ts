import type { ScenarioOptions, ScenarioReport } from '@ferry/example-qemu/scenario';
import { guestImage, runScenario } from '@ferry/example-qemu/scenario';
import { printTable, writeChart, writeResult } from './output.ts';

/** One row of the comparison: a workload and the migration settings both movers get. */
interface Case {
  readonly name: string;
  readonly hotMiB: number;
  readonly ratePagesPerSec: number;
  /** Bytes per second; 0: uncapped. */
  readonly maxBandwidth: number;
  readonly maxDowntimeMs: number;
  /** `postcopy`: QEMU's post-copy (Ferry cannot post-copy into QEMU's memory, README.md says why); `compress`: QEMU's xbzrle against Ferry's adaptive codecs. */
  readonly variant: 'precopy' | 'postcopy' | 'compress';
}

const MiB = 2 ** 20;
const CASES: readonly Case[] = [
  { name: 'idle', hotMiB: 0, ratePagesPerSec: 0, maxBandwidth: 0, maxDowntimeMs: 300, variant: 'precopy' },
  { name: 'hot 64 MiB @ 5k/s', hotMiB: 64, ratePagesPerSec: 5000, maxBandwidth: 0, maxDowntimeMs: 300, variant: 'precopy' },
  {
    name: 'hot 64 MiB @ 5k/s, 125 MiB/s',
    hotMiB: 64,
    ratePagesPerSec: 5000,
    maxBandwidth: 125 * MiB,
    maxDowntimeMs: 300,
    variant: 'precopy',
  },
  { name: 'hot 64 MiB @ 5k/s, limit 50 ms', hotMiB: 64, ratePagesPerSec: 5000, maxBandwidth: 0, maxDowntimeMs: 50, variant: 'precopy' },
  { name: 'hot 256 MiB @ 50k/s', hotMiB: 256, ratePagesPerSec: 50_000, maxBandwidth: 0, maxDowntimeMs: 300, variant: 'precopy' },
  {
    name: 'hot 256 MiB @ 50k/s, 125 MiB/s',
    hotMiB: 256,
    ratePagesPerSec: 50_000,
    maxBandwidth: 125 * MiB,
    maxDowntimeMs: 300,
    variant: 'precopy',
  },
  {
    name: 'hot 256 MiB @ 50k/s, limit 50 ms',
    hotMiB: 256,
    ratePagesPerSec: 50_000,
    maxBandwidth: 0,
    maxDowntimeMs: 50,
    variant: 'precopy',
  },
  {
    name: 'post-copy, hot 64 MiB @ 5k/s, 125 MiB/s',
    hotMiB: 64,
    ratePagesPerSec: 5000,
    maxBandwidth: 125 * MiB,
    maxDowntimeMs: 300,
    variant: 'postcopy',
  },
  {
    name: 'xbzrle vs adaptive, hot 256 MiB @ 50k/s, 125 MiB/s',
    hotMiB: 256,
    ratePagesPerSec: 50_000,
    maxBandwidth: 125 * MiB,
    maxDowntimeMs: 300,
    variant: 'compress',
  },
];

function options(c: Case, mover: 'ferry' | 'qemu', ramBytes: number): ScenarioOptions {
  const common = { ramBytes, hotMiB: c.hotMiB, ratePagesPerSec: c.ratePagesPerSec, warmupMs: 2000, afterMs: 1500 };
  if (mover === 'qemu')
    return {
      ...common,
      mover: {
        kind: 'qemu',
        options: {
          maxDowntimeMs: c.maxDowntimeMs,
          maxBandwidth: c.maxBandwidth,
          xbzrle: c.variant === 'compress',
          postcopy: c.variant === 'postcopy',
        },
      },
    };
  return {
    ...common,
    mover: {
      kind: 'ferry',
      options: {
        maxDowntimeMs: c.maxDowntimeMs,
        maxBandwidth: c.maxBandwidth,
        ...(c.variant === 'compress' && { compression: 'adaptive' as const }),
      },
    },
  };
}

/**
 * `pnpm bench qemu`: the example's VM (examples/qemu) moved by QEMU's own migration and by Ferry,
 * interleaved case by case in the same run, under TCG. Columns: total time, the longest gap the
 * ping (10 ms) and the TCP client (1 ms) saw, the engine's downtime, bytes on the wire and the
 * guest checker's verdict.
 */
export async function qemuBench(o: { ramMiB: number; repeats: number; quick: boolean }): Promise<void> {
  const image = guestImage();
  if ('missing' in image) {
    console.log(`qemu: skipped, ${image.missing}`);
    return;
  }
  // Off a multiple of 256 KiB: QEMU 7.2 under TCG loses dirty pages otherwise (examples/qemu/README.md).
  const ramBytes = o.ramMiB * MiB - 8192;
  const cases = o.quick ? CASES.filter((c) => c.hotMiB <= 64 && c.variant !== 'postcopy') : CASES;
  const rows: Record<string, string | number>[] = [];
  const raw: { case: string; mover: string; rep: number; report: ScenarioReport }[] = [];
  for (let rep = 0; rep < o.repeats; rep++) {
    for (const c of cases) {
      for (const mover of ['qemu', 'ferry'] as const) {
        if (c.hotMiB + 96 > o.ramMiB) continue;
        if (mover === 'ferry' && c.variant === 'postcopy') {
          rows.push(row(c, 'ferry (post-copy n/a)', rep, undefined));
          continue;
        }
        const report = await runScenario(options(c, mover, ramBytes)).catch((err: Error): ScenarioReport | undefined => {
          console.log(`[${c.name} / ${mover} #${rep}] ${err.message}`);
          return undefined;
        });
        const label =
          mover === 'qemu'
            ? c.variant === 'postcopy'
              ? 'qemu post-copy'
              : c.variant === 'compress'
                ? 'qemu xbzrle'
                : 'qemu'
            : c.variant === 'compress'
              ? 'ferry adaptive'
              : 'ferry';
        rows.push(row(c, label, rep, report));
        if (report) raw.push({ case: c.name, mover: label, rep, report });
        const r = rows.at(-1)!;
        console.log(
          `[${c.name} / ${label} #${rep}] total ${r['total ms']} ms, ping gap ${r['ping gap ms']} ms, tcp gap ${r['tcp gap ms']} ms, checker ${r.checker}`,
        );
      }
    }
  }
  printTable(rows);
  const svg = await writeChart('qemu-gap', {
    title: `QEMU VM (${o.ramMiB} MiB - 8 KiB, TCG): longest ping gap, QEMU against Ferry (log scale)`,
    subtitle: `every run a point (${o.repeats} per case and mover), the tick at the median`,
    x: { title: 'case', scale: 'nominal', order: cases.map((c) => c.name) },
    y: { title: 'longest ping gap (ms)', scale: 'log' },
    points: rows
      .filter((r) => typeof r['ping gap ms'] === 'number')
      .map((r) => ({ series: String(r.mover).startsWith('qemu') ? 'QEMU' : 'Ferry', x: String(r.case), y: r['ping gap ms'] as number })),
    series: ['QEMU', 'Ferry'],
  });
  console.log(`wrote ${svg}`);
  console.log(`wrote ${writeResult('qemu', { options: o, ramBytes, cases, rows, raw })}`);
}

function row(c: Case, mover: string, rep: number, r: ScenarioReport | undefined): Record<string, string | number> {
  const m = r?.migration;
  return {
    case: c.name,
    mover,
    rep,
    'total ms': m ? Math.round(m.totalMs) : 'n/a',
    'ping gap ms': r?.ping ? Math.round(r.ping.longestGapMs) : 'n/a',
    'tcp gap ms': r?.tcp ? Math.round(r.tcp.longestGapMs) : 'n/a',
    'heartbeat gap ms': r ? Math.round(r.heartbeatGapMs) : 'n/a',
    'switchover hb gap ms': r?.switchoverGapMs !== undefined ? Math.round(r.switchoverGapMs) : 'n/a',
    'downtime ms': m ? Math.round(m.downtimeMs) : 'n/a',
    'guest writes/s': r?.guestWritesPerSec !== undefined ? Math.round(r.guestWritesPerSec) : 'n/a',
    'wire MiB': m ? Math.round((m.bytesSent / MiB) * 10) / 10 : 'n/a',
    checker: !r
      ? 'n/a'
      : r.error
        ? `failed: ${r.error.slice(0, 60)}`
        : r.checker.bad === 0 && r.state.readBack === r.state.written
          ? 'ok'
          : `${r.checker.bad} bad`,
  };
}
