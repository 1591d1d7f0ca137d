/**
 * The benchmarks' charts, drawn by Vega-Lite and rendered to SVG headless (`renderSvg`). The x–y ones: every
 * run a point, a line through each series' medians where there are repeats, log axes where values
 * span decades, and limits or floors drawn as lines. A chart is data first (`ChartData`, saved as
 * JSON next to its SVG) so that it can be drawn again without running the benchmark.
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

export interface ChartAxis {
  readonly title: string;
  /** `log` where values span decades; `nominal` for named cases (in the order of `order`). Default linear. */
  readonly scale?: 'linear' | 'log' | 'nominal';
  /** Log axes: 2 for sizes in powers of two (ticks at 256, 512, …). Default 10. */
  readonly base?: 2 | 10;
  /** Nominal axes: the cases, in order. */
  readonly order?: readonly string[];
}

export interface ChartPoint {
  readonly series: string;
  readonly x: number | string;
  readonly y: number;
}

export interface ChartData {
  readonly title: string;
  /** Lines under the title: what was measured where, and what the points are. */
  readonly subtitle?: string | readonly string[];
  readonly x: ChartAxis;
  readonly y: ChartAxis;
  /** Every run's value: repeats are separate points. */
  readonly points: readonly ChartPoint[];
  /** Join each series' medians at each x (a tick per case on a nominal axis). Default true. */
  readonly medians?: boolean;
  /** Horizontal lines: a limit or a floor, with its label. */
  readonly rules?: readonly { readonly y: number; readonly label: string }[];
  /** Draw y = x with this label (predicted against measured). */
  readonly diagonal?: string;
  /** Series in legend order. */
  readonly series?: readonly string[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];

/** The Vega-Lite spec of a chart. */
export function chartSpec(c: ChartData): TopLevelSpec {
  const nominal = c.x.scale === 'nominal';
  const seriesOrder = c.series ?? [...new Set(c.points.map((p) => p.series))];
  const color = {
    field: 'series',
    type: 'nominal',
    title: null,
    scale: { domain: seriesOrder, range: COLORS },
    sort: seriesOrder,
  } as const;
  const x = nominal
    ? ({
        field: 'x',
        type: 'nominal',
        title: c.x.title,
        sort: c.x.order ?? null,
        axis: { labelAngle: -35, labelLimit: 0 },
      } as const)
    : ({
        field: 'x',
        type: 'quantitative',
        title: c.x.title,
        scale: scaleOf(
          c.x,
          c.points.map((p) => Number(p.x)),
        ),
      } as const);
  const y = {
    field: 'y',
    type: 'quantitative',
    title: c.y.title,
    scale: scaleOf(c.y, c.points.map((p) => p.y).concat((c.rules ?? []).map((r) => r.y))),
  } as const;
  const xOffset = nominal ? { xOffset: { field: 'series', type: 'nominal', sort: seriesOrder } } : {};
  const layers: unknown[] = [
    {
      mark: { type: 'point', filled: true, size: 45, opacity: 0.75 },
      encoding: { x, y, color, ...xOffset, tooltip: [{ field: 'series' }, { field: 'x' }, { field: 'y', format: '.1f' }] },
    },
  ];
  if (c.medians ?? true) {
    const median = { aggregate: [{ op: 'median', field: 'y', as: 'y' }], groupby: ['series', 'x'] };
    layers.push(
      nominal
        ? { transform: [median], mark: { type: 'tick', thickness: 2, size: 14 }, encoding: { x, y, color, ...xOffset } }
        : { transform: [median], mark: { type: 'line', strokeWidth: 2 }, encoding: { x, y, color } },
    );
  }
  if (c.diagonal) {
    const values = c.points.map((p) => p.y).concat(c.points.map((p) => Number(p.x)));
    const lo = Math.min(...values.filter((v) => v > 0));
    const hi = Math.max(...values);
    layers.push({
      data: {
        values: [
          { d: lo, label: c.diagonal },
          { d: hi, label: c.diagonal },
        ],
      },
      mark: { type: 'line', color: '#888', strokeDash: [4, 4] },
      encoding: { x: { field: 'd', type: 'quantitative' }, y: { field: 'd', type: 'quantitative' } },
    });
    layers.push({
      data: { values: [{ d: hi, label: c.diagonal }] },
      mark: { type: 'text', align: 'right', dx: -4, dy: -8, color: '#666' },
      encoding: { x: { field: 'd', type: 'quantitative' }, y: { field: 'd', type: 'quantitative' }, text: { field: 'label' } },
    });
  }
  for (const rule of c.rules ?? []) {
    layers.push({
      data: { values: [rule] },
      mark: { type: 'rule', color: '#c62828', strokeDash: [6, 3], strokeWidth: 1.5 },
      encoding: { y: { field: 'y', type: 'quantitative' } },
    });
    layers.push({
      data: { values: [rule] },
      mark: { type: 'text', align: 'right', baseline: 'bottom', x: 'width', dx: -4, dy: -2, color: '#c62828', fontSize: 11 },
      encoding: { y: { field: 'y', type: 'quantitative' }, text: { field: 'label' } },
    });
  }
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: c.title, ...(c.subtitle && { subtitle: c.subtitle }), anchor: 'start' },
    width: nominal ? 640 : 560,
    height: 340,
    data: { values: c.points.map((p) => ({ ...p })) },
    layer: layers,
    config: { legend: { orient: 'right', labelLimit: 0 }, axis: { grid: true } },
  } as TopLevelSpec;
}

/**
 * A log scale spans the decade below the least value to the next round figure above the largest
 * (Vega's own nice would stretch 1 600 to 10 000); a linear one starts where the data does.
 */
function scaleOf(axis: ChartAxis, values: readonly number[]): Record<string, unknown> {
  if (axis.scale !== 'log') return { type: 'linear', nice: true, zero: false };
  const positive = values.filter((v) => v > 0 && Number.isFinite(v));
  if (axis.base === 2) {
    // Powers of two sit on ticks; half a step of room at each end.
    const lo = 2 ** Math.floor(Math.log2(Math.min(...positive)));
    const hi = 2 ** Math.ceil(Math.log2(Math.max(...positive)));
    return { type: 'log', base: 2, domain: [lo / Math.SQRT2, hi * Math.SQRT2], nice: false };
  }
  const lo = 10 ** Math.floor(Math.log10(Math.min(...positive)));
  const top = Math.max(...positive);
  const step = 10 ** Math.floor(Math.log10(top));
  return { type: 'log', domain: [lo, Math.ceil((top * 1.05) / step) * step], nice: false };
}

/** The chart as SVG. */
export function chartSvg(c: ChartData): Promise<string> {
  return renderSvg(chartSpec(c));
}

/** Renders any Vega-Lite spec to an SVG string (charts that are not x–y, like blackout's panels, too). */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return svg;
}
