/**
 * A post-copy destination in its own process: allocates the guest's memory (mapped by the
 * addon for userfaultfd), starts a guest worker on it at resume, and when every page is here
 * reports the guest's waits and the engine's fault figures over IPC.
 */
import type { Worker } from 'node:worker_threads';
import { GuestMemory, MigrationDestination } from '@ferry/engine';
import { startWorker } from '@ferry/engine/testing';

const mode = (process.env.FERRY_BENCH_FAULTS ?? 'none') as 'none' | 'cooperative' | 'userfaultfd';
const pattern = (process.env.FERRY_BENCH_PATTERN ?? 'random') as 'random' | 'sequential' | 'runs';
const stop = new Int32Array(new SharedArrayBuffer(4));
let worker: Worker | undefined;
let guestResult: Promise<unknown> = Promise.resolve(undefined);
// The guest worker starts before anything else and waits for its memory, so that its start-up
// is not counted as waiting for pages.
if (mode !== 'none') {
  worker = startWorker(new URL('./postcopy-guest.worker.ts', import.meta.url), { workerData: { mode, pattern, stop: stop.buffer } });
  guestResult = new Promise((resolve) => worker!.once('message', resolve));
  await new Promise<void>((resolve) => worker!.once('online', () => setTimeout(resolve, 500)));
}
const destination = await MigrationDestination.listen({
  postcopyFaults: mode === 'userfaultfd' ? 'userfaultfd' : 'cooperative',
  controlPlane: {
    ...(mode === 'userfaultfd' && {
      allocate: (layout) => GuestMemory.map({ pageSize: layout.pageSize, regions: layout.regions }),
    }),
    loadDeviceState: () => {},
    resume: (memory, _state, postcopy) => {
      if (!postcopy || !worker) return;
      const go = { pageSize: memory.pageSize };
      if (mode === 'userfaultfd') worker.postMessage({ ...go, mappingIds: memory.regions.map((r) => r.mapping!.id) });
      else {
        const regions = memory.regions.map((r) => r.bytes.buffer);
        worker.postMessage({ ...go, regions, presence: postcopy.presence, port: postcopy.port }, [postcopy.port]);
      }
    },
  },
});
process.send?.({ type: 'listening', port: destination.port });
destination.result.then(
  async (r) => {
    Atomics.store(stop, 0, 1);
    const guest = await guestResult;
    await worker?.terminate();
    process.send?.({ type: 'resumed', digest: r.digest, postcopy: r.postcopy, guest });
    setTimeout(() => process.exit(0), 50);
  },
  (err: { code?: string; message?: string }) => {
    process.send?.({ type: 'failed', code: err.code, message: err.message });
    setTimeout(() => process.exit(1), 50);
  },
);
