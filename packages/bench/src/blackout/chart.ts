import type { TopLevelSpec } from 'vega-lite';
import { ROWS, STRATEGIES } from './rows.ts';
import type { BlackoutRun } from './run.ts';

/**
 * The gap each run's guest showed, per workload (one panel each) and strategy (colour), every
 * run a point and the median a bar, with the run's downtime limit as a red rule.
 */
export function gapChart(runs: readonly BlackoutRun[], machine: string): TopLevelSpec {
  const values = runs.map((r) => ({
    workload: r.row,
    strategy: r.strategy,
    gap: Number.isFinite(r.gapMs) ? r.gapMs : null,
    limit: r.limitMs,
    // A run that ended in a typed error (the guest never paused) is labelled, not drawn as a gap.
    ended: r.outcome === 'completed' ? null : r.outcome.replace('FERRY_', ''),
  }));
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
          transform: [{ filter: 'datum.ended != null' }, { aggregate: [{ op: 'count', as: 'runs' }], groupby: ['strategy', 'ended'] }],
          mark: { type: 'text', angle: 270, align: 'left', dx: 0, fontSize: 10, color: '#444' },
          encoding: {
            x: { field: 'strategy', type: 'nominal', sort: [...STRATEGIES] },
            y: { datum: 12 },
            text: { field: 'ended' },
          },
        },
        {
          mark: { type: 'rule', color: 'red', strokeDash: [4, 3], strokeWidth: 2 },
          encoding: { y: { aggregate: 'max', field: 'limit', type: 'quantitative' } },
        },
      ],
    },
  };
}
