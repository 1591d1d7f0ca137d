import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ChartData, chartSvg } from './chart.ts';
import { describeMachine } from './machine.ts';

/** Where results go: `.bench-out/` at the repository root (ignored by git). */
export const OUT_DIR: string = join(import.meta.dirname, '..', '..', '..', '.bench-out');

/** Writes `name.json` with the machine description and returns its path. */
export function writeResult(name: string, result: unknown): string {
  mkdirSync(OUT_DIR, { recursive: true });
  const path = join(OUT_DIR, `${name}.json`);
  writeFileSync(path, `${JSON.stringify({ machine: describeMachine(), result }, null, 2)}\n`);
  return path;
}

export function writeText(fileName: string, text: string): string {
  mkdirSync(OUT_DIR, { recursive: true });
  const path = join(OUT_DIR, fileName);
  writeFileSync(path, text);
  return path;
}

/**
 * Writes a chart as `name.svg` and its data as `name.chart.json` (what `pnpm bench charts` draws
 * again, e.g. once copied to docs/benchmarks/), and returns the SVG's path.
 */
export async function writeChart(name: string, chart: ChartData): Promise<string> {
  writeText(`${name}.chart.json`, `${JSON.stringify(chart, null, 1)}\n`);
  return writeText(`${name}.svg`, await chartSvg(chart));
}

/** Prints an aligned table. */
export function printTable(rows: readonly Record<string, string | number>[]): void {
  if (rows.length === 0) return;
  const keys = Object.keys(rows[0]!);
  const cell = (v: string | number | undefined): string => (typeof v === 'number' ? fmt(v) : (v ?? ''));
  const widths = keys.map((k) => Math.max(k.length, ...rows.map((r) => cell(r[k]).length)));
  const line = (vals: string[]): string => vals.map((v, i) => v.padStart(widths[i]!)).join('  ');
  console.log(line(keys));
  for (const r of rows) console.log(line(keys.map((k) => cell(r[k]))));
}

function fmt(v: number): string {
  if (Number.isInteger(v)) return String(v);
  return Math.abs(v) >= 100 ? v.toFixed(0) : Math.abs(v) >= 10 ? v.toFixed(1) : v.toFixed(2);
}
