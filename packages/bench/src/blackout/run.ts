/** One blackout run: a destination and a source host, each its own process, and what they measured. */
import { fork } from 'node:child_process';
import { messageInbox } from '../hosts/message-inbox.ts';
import { spawnHost } from '../hosts/spawn.ts';
import { rawPipe } from '../migrate.ts';
import type { BlackoutRow, Strategy } from './rows.ts';

export interface BlackoutRun {
  readonly row: string;
  readonly strategy: Strategy;
  readonly repeat: number;
  /** `completed`, or the error code the source ended with. */
  readonly outcome: string;
  readonly message?: string;
  /** Last heartbeat on the source to the first on the destination, ms. */
  readonly gapMs: number;
  readonly downtimeMs: number;
  readonly predictedMs: number;
  readonly limitMs: number;
  readonly limitKept: boolean;
  readonly reason: string;
  readonly totalMs: number;
  readonly bytesSent: number;
  readonly verify: string;
  readonly parts: Record<string, number>;
  readonly destination: { verifyMs: number; resumeMs: number } | null;
  readonly rounds: number;
  /** Bytes sent with the guest paused, and the same bytes through a raw socket to another process, in this run. */
  readonly pausedBytes: number;
  readonly rawPipeMs: number;
}

const SOURCE = new URL('./source-host.ts', import.meta.url);

/** What the control plane keeps between runs: the switchover history of this pair of hosts. */
export interface ControlPlaneMemory {
  history: unknown;
}

export async function runOnce(
  row: BlackoutRow,
  strategy: Strategy,
  repeat: number,
  sizes: { memoryMiB: number; dataMiB: number },
  kept: ControlPlaneMemory,
): Promise<BlackoutRun> {
  const env = { FERRY_BLACKOUT: JSON.stringify({ pagesPerSec: row.pagesPerSec, hotMiB: row.hotMiB }) };
  const dest = await spawnHost('../blackout/destination-host.ts', env);
  const cfg = {
    ...sizes,
    history: kept.history,
    port: dest.port,
    hotMiB: row.hotMiB,
    pagesPerSec: row.pagesPerSec,
    capBytesPerSec: row.capBytesPerSec,
    maxDowntimeMs: row.maxDowntimeMs,
    strategy,
  };
  const source = fork(SOURCE, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, FERRY_BLACKOUT: JSON.stringify(cfg) },
  });
  const exited = new Promise((resolve) => source.once('exit', resolve));
  const next = messageInbox(source, exited, (type) => new Error(`the source host exited before '${type}'`));
  const done = await Promise.race([next('done'), next('failed')]);
  const base = { row: row.name, strategy, repeat, limitMs: row.maxDowntimeMs };
  if (done.type === 'failed') {
    dest.child.kill();
    await exited;
    return {
      ...base,
      outcome: String(done.code),
      message: String(done.message),
      gapMs: Number.NaN,
      downtimeMs: 0,
      predictedMs: Number.NaN,
      limitKept: true,
      reason: '',
      totalMs: Number.NaN,
      bytesSent: Number.NaN,
      verify: '',
      parts: {},
      destination: null,
      rounds: 0,
      pausedBytes: 0,
      rawPipeMs: Number.NaN,
    };
  }
  kept.history = done.history;
  const resumed = await Promise.race([dest.next('resumed'), dest.next('failed')]);
  await exited;
  const r = done.report as {
    downtimeMs: number;
    totalMs: number;
    bytesSent: number;
    verify: string;
    downtime: Record<string, number>;
    destination: { verifyMs: number; resumeMs: number };
    switchover: { reason: string; predictedDowntimeMs: number | null; limitExceeded: boolean };
    roundCount: number;
    bytesSentDuringDowntime: number;
  };
  // The final round's pace against the raw pipe, for the same bytes (uncapped rows only: capped, the cap sets it).
  const rawPipeMs = row.capBytesPerSec === 0 && r.bytesSentDuringDowntime > 2 ** 20 ? await rawPipe(r.bytesSentDuringDowntime) : Number.NaN;
  const sourceBeats = done.beats as number[];
  const destBeats = (resumed.beats as number[] | undefined) ?? [];
  const gapMs = destBeats.length && sourceBeats.length ? destBeats[0]! - sourceBeats.at(-1)! : Number.NaN;
  return {
    ...base,
    outcome: resumed.type === 'failed' ? `destination ${String(resumed.code)}` : 'completed',
    gapMs,
    downtimeMs: r.downtimeMs,
    predictedMs: r.switchover.predictedDowntimeMs ?? Number.NaN,
    limitKept: !r.switchover.limitExceeded,
    reason: r.switchover.reason,
    totalMs: r.totalMs,
    bytesSent: r.bytesSent,
    verify: r.verify,
    parts: r.downtime,
    destination: r.destination,
    rounds: r.roundCount,
    pausedBytes: r.bytesSentDuringDowntime,
    rawPipeMs,
  };
}
