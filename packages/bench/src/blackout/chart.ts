import type { TopLevelSpec } from 'vega-lite';
import { ROWS, STRATEGIES } from './rows.ts';
import type { BlackoutRun } from './run.ts';

/**
 * The gap each run's guest showed, per workload (one panel each) and strategy (colour), every
 * run a point and the median a bar, with the run's downtime limit as a red rule.
 */
export function gapChart(runs: readonly BlackoutRun[], machine: string): TopLevelSpec {
  const values = runs
    .filter((r) => Number.isFinite(r.gapMs))
    .map((r) => ({ workload: r.row, strategy: r.strategy, gap: r.gapMs, limit: r.limitMs }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'Client-visible gap by workload and strategy (log scale)', subtitle: machine },
    data: { values },
    facet: {
      column: {
        field: 'workload',
        type: 'nominal',
        title: null,
        sort: ROWS.map((r) => r.name),
        header: { labelAngle: 0, labelFontSize: 10, labelLimit: 0, labelExpr: "split(datum.value, ', ')" },
      },
    },
    spec: {
      width: 140,
      height: 260,
      layer: [
        {
          mark: { type: 'bar', opacity: 0.55 },
          encoding: {
            x: { field: 'strategy', type: 'nominal', title: null, sort: [...STRATEGIES], axis: { labelAngle: 0 } },
            y: { aggregate: 'median', field: 'gap', type: 'quantitative', title: 'gap, ms', scale: { type: 'log' } },
            color: { field: 'strategy', type: 'nominal', scale: { domain: [...STRATEGIES] } },
          },
        },
        {
          mark: { type: 'point', filled: true, color: 'black', size: 20 },
          encoding: { x: { field: 'strategy', type: 'nominal', sort: [...STRATEGIES] }, y: { field: 'gap', type: 'quantitative' } },
        },
        {
          mark: { type: 'rule', color: 'red', strokeDash: [4, 3], strokeWidth: 2 },
          encoding: { y: { aggregate: 'max', field: 'limit', type: 'quantitative' } },
        },
      ],
    },
  };
}
