import { type MigrationEvent, type MigrationPlan, plan, SwitchoverHistory } from '@ferry/engine';
import { writePattern } from '@ferry/engine/testing';
import { runMigration } from './migrate.ts';
import { printTable, writeChart, writeResult } from './output.ts';
import { median, quantile } from './stats.ts';

/**
 * How right the predictions are: over a matrix of workloads (idle, uniform random writes, a
 * hot set, a sequential sweep) and links (uncapped loopback, 1 Gbit/s cap), the downtime
 * predicted when pre-copy decided to switch over against the downtime measured, and `plan()`'s
 * pre-copy total time (planned on the same guest and link just before) against the total
 * measured.
 */
export async function predictBench(o: { sizeMiB: number; repeats: number; maxDowntimeMs: number }): Promise<void> {
  const workloads = [
    { name: 'idle', rate: 0, ws: 1, pattern: 'random' },
    { name: 'uniform 5k/s', rate: 5000, ws: 1, pattern: 'random' },
    { name: 'uniform 20k/s', rate: 20_000, ws: 1, pattern: 'random' },
    { name: 'hot set 50k/s', rate: 50_000, ws: 0.05, pattern: 'random' },
    { name: 'sweep 20k/s', rate: 20_000, ws: 0.5, pattern: 'sequential' },
    // Fast enough that uncapped pre-copy needs several rounds and switches over near the limit.
    { name: 'uniform 100k/s', rate: 100_000, ws: 1, pattern: 'random' },
  ] as const;
  const links = [
    { name: 'uncapped', cap: 0 },
    { name: '1 Gbit/s', cap: 125_000_000 },
  ];
  const rows: Record<string, string | number>[] = [];
  const total = workloads.length * links.length * o.repeats;
  for (const link of links) {
    // One history per link, as a control plane keeps one per pair of hosts: from the fourth
    // migration on, predictions add what earlier switchovers showed the model to miss.
    const history = new SwitchoverHistory();
    for (let rep = 0; rep < o.repeats; rep++) {
      for (const w of workloads) {
        let switchover: Extract<MigrationEvent, { type: 'switchover' }> | undefined;
        let planned: MigrationPlan | undefined;
        const report = await runMigration({
          beforeMigrate: async ({ memory, tracker, port }) => {
            planned = await plan({
              host: '127.0.0.1',
              port,
              memory,
              tracker,
              sampleMs: 500,
              probeBytes: 32 * 2 ** 20,
              ...(link.cap > 0 && { maxBandwidth: link.cap }),
              maxDowntimeMs: o.maxDowntimeMs,
              verify: 'sent',
            });
          },
          sizeMiB: o.sizeMiB,
          fill: (memory) => {
            for (let p = 0; p < memory.region(0).pageCount / 2; p++) writePattern(memory.page(0, p), p, 1);
          },
          dirtyPagesPerSec: w.rate,
          workingSet: w.ws,
          pattern: w.pattern,
          options: {
            maxDowntimeMs: o.maxDowntimeMs,
            maxBandwidth: link.cap,
            verify: 'sent',
            switchoverHistory: history,
            onEvent: (e) => {
              if (e.type === 'switchover') switchover = e;
            },
          },
        });
        const predicted = switchover?.predictedDowntimeMs ?? Number.NaN;
        const plannedTotal = planned?.strategies.find((p) => p.strategy === 'precopy')?.totalMs ?? Number.NaN;
        rows.push({
          link: link.name,
          workload: w.name,
          rep,
          reason: switchover?.reason ?? '?',
          'predicted ms': predicted,
          'measured ms': report.downtimeMs,
          'error %': (Math.abs(predicted - report.downtimeMs) / report.downtimeMs) * 100,
          'pred xfer ms': switchover?.prediction?.transferMs ?? Number.NaN,
          'pred fixed ms': switchover?.prediction?.fixedMs ?? Number.NaN,
          'learned ms': switchover?.prediction?.inputs.costs?.learnedMs ?? 0,
          'pause ms': report.downtime.pauseMs,
          'final ms': report.downtime.finalRoundMs,
          'dev+digest ms': report.downtime.deviceStateMs + report.downtime.digestMs,
          'handover ms': report.downtime.handoverMs,
          'dst verify+resume ms': report.destination.verifyMs + report.destination.resumeMs,
          'predicted pages': switchover?.remainingPages ?? 0,
          'final pages': report.finalRoundPages,
          rounds: report.rounds.length,
          'total ms': report.totalMs,
          'planned total ms': plannedTotal,
          'plan error %': (Math.abs(plannedTotal - report.totalMs) / report.totalMs) * 100,
          'plan says': planned?.recommended ?? '?',
        });
        console.log(
          `[${rows.length}/${total}] ${link.name} ${w.name}: predicted ${predicted.toFixed(1)} ms, measured ${report.downtimeMs.toFixed(1)} ms`,
        );
      }
    }
  }
  rows.sort(
    (a, b) =>
      links.findIndex((l) => l.name === a.link) - links.findIndex((l) => l.name === b.link) ||
      workloads.findIndex((w) => w.name === a.workload) - workloads.findIndex((w) => w.name === b.workload) ||
      (a.rep as number) - (b.rep as number),
  );
  printTable(rows);
  const summary = summarize(rows, o.maxDowntimeMs);
  const corrected = errorStats(rows.filter((r) => r['learned ms'] !== 0));
  console.log(
    `runs with a learnt correction (after 3 switchovers on the link): error median ${corrected.medianErrorPct.toFixed(1)}%, p90 ${corrected.p90ErrorPct.toFixed(1)}% over ${corrected.runs} runs`,
  );
  for (const [name, e] of Object.entries(summary.byLink)) {
    console.log(
      `${name}: error median ${e.medianErrorPct.toFixed(1)}%, p90 ${e.p90ErrorPct.toFixed(1)}% (${e.medianAbsErrorMs.toFixed(1)} ms, ${e.p90AbsErrorMs.toFixed(1)} ms) over ${e.runs} runs; noise floor (each run against its cell's other runs) ${noiseText(e)}`,
    );
  }
  console.log(
    `all: error median ${summary.medianErrorPct.toFixed(1)}%, p90 ${summary.p90ErrorPct.toFixed(1)}%; noise floor ${noiseText(summary)}; measured within ${o.maxDowntimeMs} ms in ${summary.withinLimitPct.toFixed(0)}% of ${summary.convergedRuns} converged runs`,
  );
  console.log(
    `plan() total time error: median ${summary.planMedianErrorPct.toFixed(1)}%, p90 ${summary.planP90ErrorPct.toFixed(1)}%, within 20% in ${summary.planWithin20Pct.toFixed(0)}% of runs`,
  );
  const svg = await writeChart('predict', {
    title: `Predicted against measured downtime, ${o.sizeMiB} MiB guest, ${rows.length} runs (log scales)`,
    subtitle: `every run a point; ${o.repeats} repeats of each workload on each link`,
    x: { title: 'predicted downtime at the switchover (ms)', scale: 'log' },
    y: { title: 'measured downtime (ms)', scale: 'log' },
    points: rows
      .filter((r) => Number.isFinite(r['predicted ms'] as number))
      .map((r) => ({ series: String(r.link), x: r['predicted ms'] as number, y: r['measured ms'] as number })),
    medians: false,
    diagonal: 'exact',
    rules: [{ y: o.maxDowntimeMs, label: `limit ${o.maxDowntimeMs} ms` }],
  });
  console.log(`wrote ${svg}`);
  console.log(`wrote ${writeResult('predict', { options: o, rows, summary })}`);
}

type Row = Record<string, string | number>;

/**
 * How far each run's measured downtime is from the median of the other runs of its cell (same
 * link and workload), in percent: what a predictor that knew each cell's typical downtime
 * exactly would still miss by. The spread of the measurement itself, which no prediction
 * made before the pause can beat. Needs two or more repeats per cell.
 */
function noiseFloor(rows: readonly Row[]): number[] {
  return rows.map((r) => {
    const others = rows.filter((o) => o !== r && o.link === r.link && o.workload === r.workload).map((o) => o['measured ms'] as number);
    if (others.length === 0) return Number.NaN;
    const m = r['measured ms'] as number;
    return (Math.abs(median(others) - m) / m) * 100;
  });
}

function errorStats(rows: readonly Row[]) {
  const errors = rows.map((r) => r['error %'] as number);
  const noise = noiseFloor(rows);
  const absolute = rows.map((r) => Math.abs((r['predicted ms'] as number) - (r['measured ms'] as number)));
  return {
    runs: rows.length,
    medianAbsErrorMs: quantile(absolute, 0.5),
    p90AbsErrorMs: quantile(absolute, 0.9),
    medianErrorPct: quantile(errors, 0.5),
    p90ErrorPct: quantile(errors, 0.9),
    noiseMedianPct: quantile(noise, 0.5),
    noiseP90Pct: quantile(noise, 0.9),
  };
}

function summarize(rows: readonly Row[], maxDowntimeMs: number) {
  const planErrors = rows.map((r) => r['plan error %'] as number).filter(Number.isFinite);
  const converged = rows.filter((r) => r.reason === 'converged');
  const within = converged.filter((r) => (r['measured ms'] as number) <= maxDowntimeMs).length;
  const links = [...new Set(rows.map((r) => r.link as string))];
  return {
    ...errorStats(rows),
    byLink: Object.fromEntries(links.map((l) => [l, errorStats(rows.filter((r) => r.link === l))])),
    convergedRuns: converged.length,
    withinLimitPct: converged.length ? (within / converged.length) * 100 : Number.NaN,
    planMedianErrorPct: quantile(planErrors, 0.5),
    planP90ErrorPct: quantile(planErrors, 0.9),
    planWithin20Pct: (planErrors.filter((e) => e <= 20).length / Math.max(planErrors.length, 1)) * 100,
  };
}

/** The noise floor's figures, or why there are none. */
function noiseText(e: { noiseMedianPct: number; noiseP90Pct: number }): string {
  return Number.isFinite(e.noiseMedianPct)
    ? `median ${e.noiseMedianPct.toFixed(1)}%, p90 ${e.noiseP90Pct.toFixed(1)}%`
    : 'n/a (needs --repeats 2 or more)';
}
