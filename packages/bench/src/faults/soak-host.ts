/**
 * One of the soak's two long-lived hosts: it takes the guest (listen) or sends it on (a writer
 * guest runs on it while it goes), as the campaign tells it, and reports its RSS, heap, open fds
 * and handles between migrations (after a garbage collection: run with --expose-gc).
 */
import { readdirSync } from 'node:fs';
import { GuestMemory, loadKernels, MigrationDestination, memoryDigest, migrate, WriteBarrierTracker } from '@ferry/engine';
import { WriterGuest, writePattern } from '@ferry/engine/testing';
import { FerryError } from '@ferry/engine';
import { TIMEOUTS } from './trial-plan.ts';

const kernels = await loadKernels();
const sizeMiB = Number(process.env.FERRY_SOAK_MIB ?? 16);
let guest: GuestMemory | undefined;
if (process.env.FERRY_SOAK_FIRST === '1') {
  guest = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: sizeMiB * 2 ** 20 }] });
  for (let p = 0; p < guest.regions[0]!.pageCount; p += 2) writePattern(guest.page(0, p), p, 1);
}
const codeOf = (err: unknown): string => (err instanceof FerryError ? err.code : `not a FerryError: ${String(err)}`);
const timeouts = {
  handshakeTimeoutMs: TIMEOUTS.handshakeTimeoutMs * 4,
  idleTimeoutMs: TIMEOUTS.idleTimeoutMs * 4,
};
let round = 0;

process.on('message', async (m: { listen?: boolean; send?: number; stats?: boolean; exit?: boolean }) => {
  if (m.exit) process.exit(0);
  if (m.listen) {
    const destination = await MigrationDestination.listen({ controlPlane: { loadDeviceState: () => {}, resume: () => {} }, ...timeouts });
    process.send?.({ type: 'port', port: destination.port });
    destination.result.then(
      (r) => {
        guest = r.memory;
        process.send?.({ type: 'received', digest: memoryDigest(r.memory, kernels).toString(16) });
      },
      (err: unknown) => process.send?.({ type: 'received', error: codeOf(err) }),
    );
  }
  if (m.send !== undefined) {
    const memory = guest;
    if (!memory) {
      process.send?.({ type: 'sent', error: 'no guest here' });
      return;
    }
    const tracker = new WriteBarrierTracker(memory.layout);
    const writer = new WriterGuest(memory, tracker, { pagesPerSec: 3000, workingSetFraction: 0.25, seed: ++round });
    await writer.ready;
    try {
      const report = await migrate({ host: '127.0.0.1', port: m.send, memory, tracker, controlPlane: writer.controlPlane(), ...timeouts });
      await writer.stop();
      guest = undefined;
      process.send?.({
        type: 'sent',
        digest: memoryDigest(memory, kernels).toString(16),
        downtimeMs: report.downtimeMs,
        totalMs: report.totalMs,
      });
    } catch (err) {
      await writer.stop();
      process.send?.({ type: 'sent', error: codeOf(err) });
    }
  }
  if (m.stats) {
    // Sockets and a finished writer's worker take a moment to close: a leak stays, they do not.
    await new Promise((r) => setTimeout(r, 200));
    (globalThis as { gc?: () => void }).gc?.();
    const u = process.memoryUsage();
    process.send?.({
      type: 'stats',
      rss: u.rss,
      heapUsed: u.heapUsed,
      arrayBuffers: u.arrayBuffers,
      fds: readdirSync('/proc/self/fd').length,
      handles: process.getActiveResourcesInfo().length,
    });
  }
});
process.send?.({ type: 'listening', port: 0 });
