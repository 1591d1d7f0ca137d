import { randomFillSync } from 'node:crypto';
import {
  GuestMemory,
  type IncomingMigration,
  type ListenOptions,
  type MigrateOptions,
  MigrationDestination,
  migrate,
  WriteBarrierTracker,
} from '@ferry/engine';
import { printTable, writeResult } from './output.ts';
import { median } from './stats.ts';

/** One destination configuration against one source configuration. */
interface Case {
  readonly name: string;
  readonly destination: Partial<ListenOptions>;
  readonly source: Partial<MigrateOptions>;
}

/**
 * What protocol version 4's terms cost, measured in the same run: a destination that takes
 * 64 KiB frames (so the source sends 15-page batches and small device-state chunks) against
 * the 16 MiB default, and an adaptive source held to RAW and ZERO by a destination that decodes
 * nothing else against one that may use every encoding. Idle guests over loopback, half
 * compressible text and half random; cases interleaved per repeat so the machine's noise falls
 * on all of them alike.
 */
export async function negotiationBench(o: { sizeMiB: number; repeats: number }): Promise<void> {
  const cases: Case[] = [
    { name: 'default frames (16 MiB)', destination: {}, source: {} },
    { name: '64 KiB frames', destination: { maxFrameBodyBytes: 64 * 1024 }, source: {} },
    { name: 'adaptive, all encodings', destination: {}, source: { compression: 'adaptive' } },
    { name: 'adaptive, RAW+ZERO only', destination: { acceptEncodings: [] }, source: { compression: 'adaptive' } },
  ];
  const memory = GuestMemory.fromLayout({ pageSize: 4096, regions: [{ name: 'ram0', sizeBytes: o.sizeMiB * 2 ** 20 }] });
  const bytes = memory.region(0).bytes;
  const half = bytes.byteLength / 2;
  randomFillSync(bytes.subarray(half));
  const text = Buffer.from('the quick brown fox jumps over the lazy dog; ');
  for (let at = 0; at < half; at += text.byteLength) bytes.set(text.subarray(0, Math.min(text.byteLength, half - at)), at);
  const times = new Map<string, number[]>(cases.map((c) => [c.name, []]));
  const sent = new Map<string, number>();
  for (let rep = 0; rep < o.repeats; rep++) {
    for (const c of cases) {
      const ms = await once(memory, c, sent);
      times.get(c.name)!.push(ms);
      console.log(`negotiation: repeat ${rep + 1}/${o.repeats}, ${c.name}: ${ms.toFixed(0)} ms`);
    }
  }
  const base = (name: string): number => median(times.get(name)!);
  const rows = cases.map((c, i) => ({
    case: c.name,
    'total ms (median)': median(times.get(c.name)!),
    'MB sent': sent.get(c.name)! / 1e6,
    'time / baseline': median(times.get(c.name)!) / base(cases[i < 2 ? 0 : 2]!.name),
  }));
  printTable(rows);
  console.log(`wrote ${writeResult('negotiation', { options: o, rows, times: Object.fromEntries(times) })}`);
}

async function once(memory: GuestMemory, c: Case, sent: Map<string, number>): Promise<number> {
  let incoming: GuestMemory | undefined;
  const destination = await MigrationDestination.listen({
    ...c.destination,
    controlPlane: {
      allocate: (layout) => {
        incoming = GuestMemory.fromLayout(layout);
        return incoming;
      },
      loadDeviceState: () => {},
      resume: () => {},
    },
  });
  const start = performance.now();
  const report = await migrate({
    host: '127.0.0.1',
    port: destination.port,
    memory,
    tracker: new WriteBarrierTracker(memory.layout),
    controlPlane: { pause: () => {}, resume: () => {}, saveDeviceState: () => new Uint8Array(1 << 20) },
    ...c.source,
  });
  const ms = performance.now() - start;
  const result: IncomingMigration = await destination.result;
  if (result.digest !== report.digest || !incoming) throw new Error(`${c.name}: digests differ`);
  sent.set(c.name, report.bytesSent);
  await destination.close();
  return ms;
}
