/**
 * The blackout benchmark's destination host, in its own process: allocates the guest's memory
 * (mapped, for userfaultfd post-copy) and prepares the guest worker on it at once, parked, as a
 * QEMU destination waits paused; `resume` is a signal to it. Reports the guest's heartbeats
 * here over IPC once the migration ends.
 */
import { GuestMemory, MigrationDestination } from '@ferry/engine';
import { BlackoutGuest } from './guest.ts';

const cfg = JSON.parse(process.env.FERRY_BLACKOUT ?? '{}') as { pagesPerSec: number; hotMiB: number };
// The guest's worker starts now, parked; `prepare` gives it its memory while pages arrive.
const guest = new BlackoutGuest({ pagesPerSec: cfg.pagesPerSec, hotPages: (cfg.hotMiB * 2 ** 20) / 4096, paused: true });
let resumedAt = 0;
const destination = await MigrationDestination.listen({
  ...(process.env.FERRY_BLACKOUT_TRACE && {
    onEvent: (e: { type: string; to?: string }) =>
      console.error(`${(Number(process.hrtime.bigint()) / 1e6).toFixed(2)} destination ${e.type}${e.to ? `:${e.to}` : ''}`),
  }),
  postcopyFaults: 'userfaultfd',
  controlPlane: {
    allocate: (layout) => GuestMemory.map({ pageSize: layout.pageSize, regions: layout.regions }),
    prepare: (memory) => guest.attach(memory),
    loadDeviceState: () => {},
    resume: () => {
      guest.resume();
      resumedAt = Number(process.hrtime.bigint()) / 1e6;
    },
  },
});
process.send?.({ type: 'listening', port: destination.port });
destination.result.then(
  async (r) => {
    // A few heartbeats after the end, so that a guest still waiting for pages shows.
    await new Promise((res) => setTimeout(res, 200));
    process.send?.({ type: 'resumed', beats: guest.heartbeats(), resumedAt, postcopy: r.postcopy ?? null });
    await guest.stop();
    setTimeout(() => process.exit(0), 50);
  },
  async (err: { code?: string; message?: string }) => {
    process.send?.({ type: 'failed', code: err.code, message: err.message });
    await guest.stop();
    setTimeout(() => process.exit(1), 50);
  },
);
