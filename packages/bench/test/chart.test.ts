import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ChartData, chartSvg } from '../src/chart.ts';
import { DOCS_CHARTS_DIR } from '../src/charts.ts';

describe('benchmark charts (Vega-Lite)', () => {
  it('draws every point, the limit as a line, and a log axis in decades', async () => {
    const chart: ChartData = {
      title: 'downtime',
      x: { title: 'rate' },
      y: { title: 'ms', scale: 'log' },
      points: [
        { series: 'a', x: 0, y: 2 },
        { series: 'a', x: 0, y: 3 },
        { series: 'a', x: 1, y: 900 },
      ],
      rules: [{ y: 100, label: 'limit 100 ms' }],
    };
    const svg = await chartSvg(chart);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('limit 100 ms');
    // Both repeats at x = 0 are drawn, not only their median.
    expect((svg.match(/aria-roledescription="point"/g) ?? []).length).toBe(3);
    for (const tick of ['>1<', '>10<', '>100<']) expect(svg).toContain(tick);
  });

  it('docs/benchmarks: every committed chart is what its saved data draws (pnpm bench charts)', async () => {
    const files = readdirSync(DOCS_CHARTS_DIR).filter((f) => f.endsWith('.chart.json'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const data = JSON.parse(readFileSync(join(DOCS_CHARTS_DIR, file), 'utf8')) as ChartData;
      const committed = readFileSync(join(DOCS_CHARTS_DIR, file.replace('.chart.json', '.svg')), 'utf8');
      expect(await chartSvg(data), `${file}: run pnpm bench charts and commit the SVG`).toBe(committed);
    }
  });
});
