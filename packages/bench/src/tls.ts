import { makeTestPki, writePattern } from '@ferry/engine/testing';
import { runMigration } from './migrate.ts';
import { printTable, writeResult } from './output.ts';

/**
 * What mutual TLS costs: the same migration plain and over TLS, interleaved run by run, with a
 * throwaway PKI made by the openssl CLI.
 */
export async function tlsBench(o: { sizeMiB: number; repeats: number }): Promise<void> {
  const pki = makeTestPki();
  if (!pki) {
    console.log('tls: skipped, no openssl CLI to make certificates');
    return;
  }
  const rows: Record<string, string | number>[] = [];
  for (let rep = 0; rep < o.repeats; rep++) {
    for (const mode of ['plain', 'tls'] as const) {
      const report = await runMigration({
        sizeMiB: o.sizeMiB,
        fill: (memory) => {
          for (let p = 0; p < memory.region(0).pageCount; p++) writePattern(memory.page(0, p), p, 1);
        },
        dirtyPagesPerSec: 2000,
        workingSet: 0.05,
        options: { verify: 'sent', ...(mode === 'tls' && { tls: pki.source }) },
        ...(mode === 'tls' && { destinationTls: pki.destination }),
      });
      rows.push({
        mode,
        rep,
        'total ms': report.totalMs,
        'MB/s': report.bytesSent / 1e6 / (report.totalMs / 1000),
        'downtime ms': report.downtimeMs,
        MiB: report.bytesSent / 2 ** 20,
      });
      console.log(`[${mode} #${rep}] total ${report.totalMs.toFixed(0)} ms, downtime ${report.downtimeMs.toFixed(1)} ms`);
    }
  }
  printTable(rows);
  const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const of = (mode: string, k: string): number => median(rows.filter((r) => r.mode === mode).map((r) => r[k] as number));
  const ratio = of('tls', 'total ms') / of('plain', 'total ms');
  console.log(
    `tls/plain total time ${ratio.toFixed(2)}; downtime plain ${of('plain', 'downtime ms').toFixed(1)} ms, tls ${of('tls', 'downtime ms').toFixed(1)} ms`,
  );
  console.log(`wrote ${writeResult('tls', { options: o, rows, ratio })}`);
}
