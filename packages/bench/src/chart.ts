/**
 * A dependency-free SVG line chart: enough to draw downtime against dirty rate, or predicted
 * against measured, so that results people compare are seen, not only tabled.
 */
export interface Series {
  readonly name: string;
  readonly points: readonly (readonly [number, number])[];
  /** Points only, no line (a scatter). */
  readonly scatter?: boolean;
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];

export function lineChart(options: { title: string; xLabel: string; yLabel: string; series: readonly Series[] }): string {
  const W = 780;
  const H = 400;
  const M = { l: 70, r: 200, t: 40, b: 50 };
  const all = options.series.flatMap((s) => s.points);
  const xMax = niceMax(Math.max(...all.map((p) => p[0]), 1));
  const yMax = niceMax(Math.max(...all.map((p) => p[1]), 1));
  const x = (v: number): number => M.l + (v / xMax) * (W - M.l - M.r);
  const y = (v: number): number => H - M.b - (v / yMax) * (H - M.t - M.b);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.l}" y="22" font-size="15">${esc(options.title)}</text>`,
    `<line x1="${M.l}" y1="${H - M.b}" x2="${W - M.r}" y2="${H - M.b}" stroke="black"/>`,
    `<line x1="${M.l}" y1="${M.t}" x2="${M.l}" y2="${H - M.b}" stroke="black"/>`,
    `<text x="${(M.l + W - M.r) / 2 - 40}" y="${H - 12}">${esc(options.xLabel)}</text>`,
    `<text transform="translate(16 ${H / 2 + 40}) rotate(-90)">${esc(options.yLabel)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const xv = (xMax * i) / 5;
    const yv = (yMax * i) / 5;
    parts.push(`<text x="${x(xv) - 10}" y="${H - M.b + 16}">${label(xv)}</text>`);
    parts.push(`<text x="${M.l - 45}" y="${y(yv) + 4}">${label(yv)}</text>`);
    parts.push(`<line x1="${M.l}" y1="${y(yv)}" x2="${W - M.r}" y2="${y(yv)}" stroke="#eee"/>`);
  }
  options.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = [...s.points].sort((a, b) => a[0] - b[0]);
    if (!s.scatter)
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${x(p[0])},${y(p[1])}`).join(' ')}"/>`,
      );
    for (const p of pts) parts.push(`<circle cx="${x(p[0])}" cy="${y(p[1])}" r="3" fill="${color}"/>`);
    parts.push(`<rect x="${W - M.r + 10}" y="${M.t + i * 20}" width="12" height="12" fill="${color}"/>`);
    parts.push(`<text x="${W - M.r + 28}" y="${M.t + i * 20 + 11}">${esc(s.name)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}

function niceMax(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function label(v: number): string {
  return v >= 1000 ? `${Math.round(v / 100) / 10}k` : String(Math.round(v * 10) / 10);
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
}
