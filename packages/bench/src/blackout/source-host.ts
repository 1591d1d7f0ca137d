/**
 * The blackout benchmark's source host, in its own process: a 1 GiB guest (mapped by the addon)
 * with 768 MiB of incompressible data, its hot-set writer and heartbeat running; migrates it
 * with default options except the row's cap, limit and strategy; reports the engine's report
 * (or the error) and the guest's last heartbeat here over IPC.
 */
import { randomFillSync } from 'node:crypto';
import { type FerryError, GuestMemory, migrate, SwitchoverHistory, type SwitchoverHistoryData, WriteBarrierTracker } from '@ferry/engine';
import { BlackoutGuest } from './guest.ts';

const cfg = JSON.parse(process.env.FERRY_BLACKOUT ?? '{}') as {
  port: number;
  memoryMiB: number;
  dataMiB: number;
  hotMiB: number;
  pagesPerSec: number;
  capBytesPerSec: number;
  maxDowntimeMs: number;
  strategy: 'precopy' | 'postcopy' | 'hybrid';
  /** The control plane's history of switchovers between these two hosts, kept across runs. */
  history: SwitchoverHistoryData | null;
};
const MiB = 2 ** 20;
const memory = GuestMemory.map({ regions: [{ name: 'ram0', sizeBytes: cfg.memoryMiB * MiB }] });
const bytes = memory.region(0).bytes;
for (let at = 0; at < cfg.dataMiB * MiB; at += 64 * MiB) randomFillSync(bytes.subarray(at, Math.min(at + 64 * MiB, cfg.dataMiB * MiB)));
const tracker = new WriteBarrierTracker(memory.layout);
const guest = new BlackoutGuest({ pagesPerSec: cfg.pagesPerSec, hotPages: (cfg.hotMiB * MiB) / memory.pageSize });
await guest.attach(memory, tracker.sharedBuffers()[0]!);
// Let the guest run (and write) before the migration starts.
await new Promise((r) => setTimeout(r, 1000));
let pausedAt = 0;
/** `FERRY_BLACKOUT_TRACE=1`: each event with its time on the clock both hosts share. */
const trace = (host: string, e: { type: string; to?: string }): void => {
  if (e.type !== 'progress')
    console.error(`${(Number(process.hrtime.bigint()) / 1e6).toFixed(2)} ${host} ${e.type}${e.to ? `:${e.to}` : ''}`);
};
const history = cfg.history ? SwitchoverHistory.fromJSON(cfg.history) : new SwitchoverHistory();
try {
  const report = await migrate({
    host: '127.0.0.1',
    port: cfg.port,
    memory,
    tracker,
    strategy: cfg.strategy,
    maxDowntimeMs: cfg.maxDowntimeMs,
    maxBandwidth: cfg.capBytesPerSec,
    switchoverHistory: history,
    ...(process.env.FERRY_BLACKOUT_TRACE && { onEvent: (e) => trace('source', e) }),
    controlPlane: {
      pause: async () => {
        await guest.pause();
        pausedAt = Number(process.hrtime.bigint()) / 1e6;
      },
      resume: () => guest.resume(),
      saveDeviceState: () => new Uint8Array(4096),
      release: () => guest.stop(),
    },
  });
  const { rounds, bytesPerSecond, ...rest } = report;
  process.send?.({
    type: 'done',
    report: { ...rest, roundCount: rounds.length },
    beats: guest.heartbeats(),
    pausedAt,
    history: history.toJSON(),
  });
} catch (err) {
  const e = err as FerryError;
  process.send?.({ type: 'failed', code: e.code, message: e.message, beats: guest.heartbeats(), pausedAt });
  await guest.stop();
}
setTimeout(() => process.exit(0), 50);
