import { randomFillSync } from 'node:crypto';
import type { GuestMemory, MigrationReport } from '@ferry/engine';
import { createShapedLink, shapedLinkSupport } from './link/shaped-link.ts';
import { rawPipe, runMigration } from './migrate.ts';
import { printTable, writeResult } from './output.ts';

/** Incompressible guest memory: random bytes in every page. */
function fillRandom(memory: GuestMemory): void {
  for (const r of memory.regions) {
    for (let at = 0; at < r.bytes.byteLength; at += 2 ** 16) randomFillSync(r.bytes, at, Math.min(2 ** 16, r.bytes.byteLength - at));
  }
}

/** A migration of idle, incompressible memory, then a raw socket pipe of the same bytes over the same path. */
async function againstRawPipe(
  sizeMiB: number,
  channels: number,
  link?: { netns: string; address: string },
): Promise<{ report: MigrationReport; rawMs: number }> {
  const report = await runMigration({
    sizeMiB,
    fill: fillRandom,
    dirtyPagesPerSec: 0,
    workingSet: 1,
    options: { verify: 'sent', channels },
    ...(link && { link }),
  });
  return { report, rawMs: await rawPipe(report.bytesSent, link) };
}

/** One table row: the migration beside the raw pipe (and the link's nominal time, when shaped). */
function row(
  link: string,
  channels: number,
  rep: number,
  report: MigrationReport,
  rawMs: number,
  linkMs: number,
): Record<string, string | number> {
  return {
    link,
    channels,
    rep,
    MiB: report.bytesSent / 2 ** 20,
    'migration ms': report.totalMs,
    'raw pipe ms': rawMs,
    'migration MB/s': report.bytesSent / report.totalMs / 1000,
    'raw MB/s': report.bytesSent / rawMs / 1000,
    'of raw pipe': rawMs / report.totalMs,
    'of link rate': linkMs / report.totalMs,
  };
}

/**
 * The transport against its physical limits, measured in the same run: a migration of
 * incompressible memory against a raw socket pipe of the same bytes between two processes,
 * over loopback and over a kernel-shaped link (veth pair between network namespaces, tc), with
 * one, two and four data channels (the raw pipe uses one connection).
 */
export async function transportBench(o: { sizeMiB: number; linkSizeMiB: number; repeats: number }): Promise<void> {
  const rows: Record<string, string | number>[] = [];
  const started = performance.now();
  const log = (what: string): void => console.log(`[${((performance.now() - started) / 1000).toFixed(0)} s] ${what}`);

  for (let rep = 0; rep < o.repeats; rep++) {
    for (const channels of [1, 2, 4]) {
      const { report, rawMs } = await againstRawPipe(o.sizeMiB, channels);
      rows.push(row('loopback', channels, rep, report, rawMs, Number.NaN));
      log(`loopback ${o.sizeMiB} MiB, ${channels} channel(s): migration ${report.totalMs.toFixed(0)} ms, raw pipe ${rawMs.toFixed(0)} ms`);
    }
  }

  const support = shapedLinkSupport();
  const linkRate = 1e9;
  if (!support.available) {
    console.log(`shaped link skipped: ${support.reason}`);
  } else {
    const link = createShapedLink({ rateBitsPerSec: linkRate });
    try {
      console.log(`shaped link: veth between network namespaces, ${link.qdisc} at 1 Gbit/s`);
      const address = { netns: link.netns, address: link.peerAddress };
      for (let rep = 0; rep < o.repeats; rep++) {
        for (const channels of [1, 4]) {
          const { report, rawMs } = await againstRawPipe(o.linkSizeMiB, channels, address);
          const linkMs = ((report.bytesSent * 8) / linkRate) * 1000;
          rows.push(row(`1 Gbit/s ${link.qdisc}`, channels, rep, report, rawMs, linkMs));
          log(
            `shaped ${o.linkSizeMiB} MiB, ${channels} channel(s): migration ${report.totalMs.toFixed(0)} ms, raw pipe ${rawMs.toFixed(0)} ms, link ${linkMs.toFixed(0)} ms`,
          );
        }
      }
      try {
        createShapedLink({ rateBitsPerSec: linkRate, delayMs: 1 }).teardown();
      } catch (err) {
        console.log(`1 Gbit/s with 1 ms delay skipped: ${(err as Error).message}`);
      }
    } finally {
      link.teardown();
    }
  }
  printTable(rows);
  console.log(`wrote ${writeResult('transport', { options: o, rows })}`);
}
