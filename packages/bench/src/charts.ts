/**
 * `pnpm bench charts`: draws every chart again from its saved data, without running anything:
 * each `*.chart.json` in docs/benchmarks/ and .bench-out/ becomes the `.svg` beside it.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ChartData, chartSvg } from './chart.ts';
import { OUT_DIR } from './output.ts';

export const DOCS_CHARTS_DIR: string = join(import.meta.dirname, '..', '..', '..', 'docs', 'benchmarks');

export async function redrawCharts(dirs: readonly string[] = [DOCS_CHARTS_DIR, OUT_DIR]): Promise<string[]> {
  const written: string[] = [];
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir)
      .filter((f) => f.endsWith('.chart.json'))
      .sort()) {
      const chart = JSON.parse(readFileSync(join(dir, file), 'utf8')) as ChartData;
      const path = join(dir, file.replace(/\.chart\.json$/, '.svg'));
      writeFileSync(path, await chartSvg(chart));
      written.push(path);
    }
  }
  return written;
}
