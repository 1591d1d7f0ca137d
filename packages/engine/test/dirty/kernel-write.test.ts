import { describe, expect, it } from 'vitest';
import {
  DirtyBitmap,
  ErrorCode,
  type GuestMemory,
  KernelWriteTracker,
  measureDirtyRate,
  type SourceControlPlane,
  WriteBarrier,
  WriteBarrierTracker,
} from '../../src/index.ts';
import { startWorker } from '../../src/testing/index.ts';
import { expectSameMemory, guestMemory, MiB, migrationPair, setBits } from '../harness/index.ts';

// What every tracker must do is in tracker-compliance.ts; here is what is particular to this one.
const support = KernelWriteTracker.support();
if (!support.available) console.warn(`KernelWriteTracker tests skipped: ${support.reason}`);

/** A guest on the main thread: a timer that writes `pagesPerTick` random pages every millisecond. */
function timerGuest(memory: GuestMemory, pagesPerTick: number): { controlPlane: SourceControlPlane; stop(): void; writes(): number } {
  let timer: NodeJS.Timeout | undefined;
  let writes = 0;
  let seq = 0;
  const tick = (): void => {
    for (let i = 0; i < pagesPerTick; i++) {
      const r = memory.regions[(seq + i) % memory.regions.length]!;
      const page = Math.floor(Math.random() * r.pageCount);
      const view = new DataView(r.bytes.buffer, r.bytes.byteOffset + page * memory.pageSize, memory.pageSize);
      seq++;
      for (let off = 0; off < memory.pageSize; off += 512) view.setUint32(off, seq, true);
      writes++;
    }
  };
  const run = (): void => {
    timer = setInterval(tick, 1);
  };
  run();
  return {
    controlPlane: {
      pause: () => clearInterval(timer),
      resume: run,
      saveDeviceState: () => new Uint8Array(16),
    },
    stop: () => clearInterval(timer),
    writes: () => writes,
  };
}

describe.skipIf(!support.available)('KernelWriteTracker (userfaultfd asynchronous write protection)', () => {
  it('reports exactly the written pages of every region, once per sync', () => {
    const memory = guestMemory([4 * MiB, 64 * 4096], { backing: 'mapped' });
    memory.region(0).bytes.fill(1, 0, MiB); // populated and unpopulated pages alike
    const tracker = new KernelWriteTracker(memory);
    tracker.start();
    memory.page(0, 0)[17] = 5;
    memory.page(0, 1000)[4095] = 5;
    memory.page(0, 1000)[0] = 6; // twice on one page: one bit
    memory.page(0, 1023).fill(9);
    memory.page(1, 63)[100] = 1;
    const a = new DirtyBitmap(1024);
    const b = new DirtyBitmap(64);
    expect(tracker.sync(0, a)).toBe(3);
    expect(tracker.sync(1, b)).toBe(1);
    expect(setBits(a)).toEqual([0, 1000, 1023]);
    expect(setBits(b)).toEqual([63]);
    expect(tracker.sync(0, new DirtyBitmap(1024))).toBe(0);
    // A page written after a sync is seen by the next one, even if it was seen before.
    memory.page(0, 1000)[1] = 7;
    const again = new DirtyBitmap(1024);
    expect(tracker.sync(0, again)).toBe(1);
    expect(setBits(again)).toEqual([1000]);
    // Bits already set in `into` are not counted again.
    memory.page(0, 1000)[2] = 7;
    expect(tracker.sync(0, again)).toBe(0);
    tracker.stop();
    memory.page(0, 5)[0] = 1; // writes after stop fault no more
  });

  it('sees the writes of a worker thread that attached to the same mapping', async () => {
    const memory = guestMemory(MiB, { backing: 'mapped' });
    const tracker = new KernelWriteTracker(memory);
    tracker.start();
    const pages = [3, 64, 65, 255];
    const worker = startWorker(new URL('../fixtures/mapped-writer.worker.ts', import.meta.url), {
      workerData: { mappingId: memory.region(0).mapping!.id, pages },
    });
    const reply = await new Promise<{ lengthAfterUnmap: number }>((resolve, reject) =>
      worker.once('message', resolve).once('error', reject),
    );
    await worker.terminate();
    expect(reply.lengthAfterUnmap).toBe(0); // the worker's unmap detached only its own view
    expect(memory.page(0, 64)[64]).toBe(0xee);
    const into = new DirtyBitmap(256);
    expect(tracker.sync(0, into)).toBe(4);
    expect(setBits(into)).toEqual(pages);
    tracker.stop();
  });

  it('marks a guest page larger than the OS page when any part of it is written', () => {
    const memory = guestMemory(64 * 16384, { pageSize: 16384, backing: 'mapped' });
    const tracker = new KernelWriteTracker(memory);
    tracker.start();
    memory.region(0).bytes[5 * 16384 + 3 * 4096 + 1] = 1; // the last OS page of guest page 5
    const into = new DirtyBitmap(64);
    expect(tracker.sync(0, into)).toBe(1);
    expect(setBits(into)).toEqual([5]);
    tracker.stop();
  });

  it('sees the same pages as the write barrier for the same random writes', () => {
    const memory = guestMemory(8 * MiB, { backing: 'mapped' });
    const pages = memory.region(0).pageCount;
    const kernel = new KernelWriteTracker(memory);
    const barrier = new WriteBarrierTracker(memory.layout);
    kernel.start();
    barrier.start();
    const wb = new WriteBarrier(barrier.sharedBuffers(), memory.pageSize);
    for (let round = 0; round < 5; round++) {
      for (let i = 0; i < 300; i++) {
        const p = Math.floor(Math.random() * pages);
        memory.page(0, p)[i % 4096] = round + 1;
        wb.markPage(0, p);
      }
      const k = new DirtyBitmap(pages);
      const w = new DirtyBitmap(pages);
      expect(kernel.sync(0, k)).toBe(barrier.sync(0, w));
      expect(setBits(k)).toEqual(setBits(w));
    }
    kernel.stop();
  });

  it('measures a dirty rate like any tracker', async () => {
    const memory = guestMemory(8 * MiB, { backing: 'mapped' });
    const guest = timerGuest(memory, 8);
    try {
      const sample = await measureDirtyRate({ tracker: new KernelWriteTracker(memory), layout: memory.layout, durationMs: 200 });
      expect(sample.dirtyPagesPerSec).toBeGreaterThan(0);
      expect(sample.workingSetPages).toBeGreaterThan(0);
      expect(sample.workingSetPages).toBeLessThanOrEqual(guest.writes());
    } finally {
      guest.stop();
    }
  });

  it('migrates a guest that writes while pre-copy runs, byte-identical', async () => {
    const memory = guestMemory([16 * MiB, 4 * MiB], { backing: 'mapped' });
    const guest = timerGuest(memory, 20);
    try {
      const pair = await migrationPair({ memory, tracker: (m) => new KernelWriteTracker(m), controlPlane: guest.controlPlane });
      // Capped so pre-copy takes long enough for the guest to write between rounds.
      const report = await pair.migrate({ maxBandwidth: 100e6 });
      const incoming = await pair.destination.result;
      expect(guest.writes()).toBeGreaterThan(0);
      expectSameMemory(incoming.memory, memory);
      expect(report.digest).toBe(incoming.digest);
      expect(report.rounds.length).toBeGreaterThan(1);
    } finally {
      guest.stop();
    }
  });
});

describe('KernelWriteTracker where it cannot work', () => {
  it('refuses memory the addon did not map, with a clear typed error', () => {
    const memory = guestMemory(MiB);
    expect(() => new KernelWriteTracker(memory)).toThrow(expect.objectContaining({ code: ErrorCode.KERNEL_TRACKING_UNAVAILABLE }));
  });
});
