/**
 * `pnpm bench blackout`: the blackout a guest's user sees, workload by workload and strategy by
 * strategy (docs/benchmarks.md). Runs interleaved (repeat by repeat, every row and strategy in
 * each), so that the machine's noise falls on all alike; prints every run and a summary with the
 * issue's targets, and writes JSON and a chart.
 */
import { describeMachine } from '../machine.ts';
import { printTable, writeResult, writeText } from '../output.ts';
import { median, quantile } from '../stats.ts';
import { renderSvg } from '../chart.ts';
import { gapChart } from './chart.ts';
import { CAP, ROWS, STRATEGIES, type Strategy } from './rows.ts';
import { type BlackoutRun, runOnce } from './run.ts';

export interface BlackoutOptions {
  readonly repeats: number;
  readonly memoryMiB: number;
  readonly dataMiB: number;
  readonly strategies?: readonly Strategy[];
  /** Row names (or a part of them) to run; default all. */
  readonly only?: string;
}

export async function blackoutBench(o: BlackoutOptions): Promise<BlackoutRun[]> {
  const rows = ROWS.filter((r) => !o.only || r.name.includes(o.only));
  const strategies = o.strategies ?? STRATEGIES;
  const total = o.repeats * rows.length * strategies.length;
  const runs: BlackoutRun[] = [];
  // One control plane between the same two hosts: it keeps one switchover history for all runs.
  const kept = { history: null as unknown };
  console.log(`\nblackout: ${o.memoryMiB} MiB guest, ${o.dataMiB} MiB incompressible, ${total} runs, separate processes`);
  for (let repeat = 0; repeat < o.repeats; repeat++) {
    for (const row of rows) {
      for (const strategy of strategies) {
        const run = await runOnce(row, strategy, repeat, { memoryMiB: o.memoryMiB, dataMiB: o.dataMiB }, kept);
        runs.push(run);
        const what = run.outcome === 'completed' ? `gap ${run.gapMs.toFixed(1)} ms, downtime ${run.downtimeMs.toFixed(1)} ms` : run.outcome;
        console.log(`[${runs.length}/${total}] ${row.name} · ${strategy}: ${what} (${run.reason || run.message?.slice(0, 80) || ''})`);
      }
    }
  }
  const summary = summarize(runs, o);
  printTable(summary.table);
  for (const line of summary.targets) console.log(line);
  const machine = describeMachine();
  const machineLine = `${machine.cores} × ${machine.cpu}, ${machine.memoryGiB} GiB, load ${machine.loadAverage.map((l) => l.toFixed(1)).join(' ')}`;
  writeResult('blackout', { options: o, runs, summary });
  const svg = await renderSvg(gapChart(runs, machineLine));
  console.log(`chart: ${writeText('blackout-gap.svg', svg)}`);
  return runs;
}

interface Summary {
  table: Record<string, string | number>[];
  targets: string[];
}

function summarize(runs: readonly BlackoutRun[], o: BlackoutOptions): Summary {
  const table: Record<string, string | number>[] = [];
  const groups = new Map<string, BlackoutRun[]>();
  for (const r of runs) groups.set(`${r.row}|${r.strategy}`, [...(groups.get(`${r.row}|${r.strategy}`) ?? []), r]);
  for (const [, g] of groups) {
    const ok = g.filter((r) => r.outcome === 'completed');
    const gaps = ok.map((r) => r.gapMs);
    table.push({
      workload: g[0]!.row,
      strategy: g[0]!.strategy,
      outcome: [...new Set(g.map((r) => r.outcome))].join(','),
      'gap ms (med)': median(gaps),
      'gap min-max': ok.length ? `${Math.min(...gaps).toFixed(0)}-${Math.max(...gaps).toFixed(0)}` : '-',
      'downtime ms': median(ok.map((r) => r.downtimeMs)),
      'predicted ms': median(ok.filter((r) => r.reason === 'converged' || r.reason === 'nothing-left').map((r) => r.predictedMs)),
      'limit kept': `${ok.filter((r) => r.limitKept).length}/${ok.length}`,
      'total s': median(ok.map((r) => r.totalMs / 1000)),
      'MiB sent': median(ok.map((r) => r.bytesSent / 2 ** 20)),
      reason: [...new Set(g.map((r) => r.reason).filter(Boolean))].join(','),
    });
  }
  const ok = runs.filter((r) => r.outcome === 'completed');
  const switchedByDefault = ok.filter((r) => r.strategy !== 'postcopy' && r.reason !== '' && !r.reason.startsWith('postcopy'));
  // Runs that stopped and copied because the prediction fit: the ones a prediction is judged on.
  const stopAndCopy = ok.filter((r) => r.strategy !== 'postcopy' && (r.reason === 'converged' || r.reason === 'nothing-left'));
  const capped = stopAndCopy.filter((r) => ROWS.find((x) => x.name === r.row)?.capBytesPerSec === CAP);
  const errors = capped.map((r) => Math.abs(r.predictedMs - r.gapMs) / r.gapMs);
  const engineErrors = capped.map((r) => Math.abs(r.predictedMs - r.downtimeMs) / r.downtimeMs);
  const floorMs = ((o.dataMiB * 2 ** 20) / CAP) * 1000;
  const paced = ok.filter((r) => Number.isFinite(r.rawPipeMs) && r.parts.finalRoundMs! > 0);
  const pace = paced.map((r) => r.rawPipeMs / (r.parts.finalRoundMs! + r.parts.deviceStateMs!));
  const post = ok.filter((r) => r.strategy === 'postcopy' && ROWS.find((x) => x.name === r.row)?.capBytesPerSec === CAP);
  const targets = [
    `gap ≤ 20 ms on converging rows (stop-and-copy): ${stopAndCopy.filter((r) => r.gapMs <= 20).length}/${stopAndCopy.length}`,
    `engine downtime ≤ limit where it switched over by default: ${switchedByDefault.filter((r) => r.limitKept).length}/${switchedByDefault.length}`,
    `runs that ended in an error: ${
      runs
        .filter((r) => r.outcome !== 'completed')
        .map((r) => `${r.row}/${r.strategy}: ${r.outcome}`)
        .join('; ') || 'none'
    }`,
    `prediction vs gap on capped rows: median error ${(median(errors) * 100).toFixed(0)}%, p90 ${(quantile(errors, 0.9) * 100).toFixed(0)}% (${errors.length} runs)`,
    `prediction vs engine downtime on capped rows: median error ${(median(engineErrors) * 100).toFixed(0)}%, p90 ${(quantile(engineErrors, 0.9) * 100).toFixed(0)}%`,
    `final round's pace against the raw pipe, same bytes (uncapped, > 1 MiB paused): median ${median(pace).toFixed(2)} (${paced.length} runs: ${pace.map((p) => p.toFixed(2)).join(', ')})`,
    `post-copy total vs floor (${(floorMs / 1000).toFixed(2)} s at 125 MiB/s): ${post.map((r) => (r.totalMs / floorMs).toFixed(2)).join(', ')}`,
  ];
  for (const row of ROWS) {
    const h = ok.filter((r) => r.row === row.name && r.strategy === 'hybrid').map((r) => r.totalMs);
    const p = ok.filter((r) => r.row === row.name && r.strategy === 'postcopy').map((r) => r.totalMs);
    if (h.length && p.length) targets.push(`hybrid/post-copy total, ${row.name}: ${(median(h) / median(p)).toFixed(2)}`);
  }
  return { table, targets };
}
