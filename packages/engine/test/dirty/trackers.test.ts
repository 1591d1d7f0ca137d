import { describe, expect, it } from 'vitest';
import { DirtyBitmap, ExternalTracker, HashScanTracker, loadKernels, measureDirtyRate, PerRegionTracker } from '../../src/index.ts';
import { expectSameMemory, guestMemory, MiB, migrationPair, setBits, sourceHost } from '../harness/index.ts';

// What every tracker must do is in tracker-compliance.ts; here is what is particular to each.

describe('HashScanTracker', () => {
  it.each(['native', 'js'] as const)('finds exactly the pages whose content changed (%s kernels)', async (which) => {
    const memory = guestMemory([4 * MiB, 64 * 4096], { fill: { content: 'pattern', regions: [0], pages: (p) => p % 3 === 0 } });
    const tracker = new HashScanTracker(memory, await loadKernels({ native: which === 'native' }));
    await tracker.start();
    memory.page(0, 0)[17]! ^= 1;
    memory.page(0, 1000).fill(9);
    memory.page(1, 63)[4095] = 1;
    memory.page(0, 3).set(memory.page(0, 3)); // rewritten with the same bytes: not dirty
    const a = new DirtyBitmap(1024);
    const b = new DirtyBitmap(64);
    expect(await tracker.sync(0, a)).toBe(2);
    expect(await tracker.sync(1, b)).toBe(1);
    expect(setBits(a)).toEqual([0, 1000]);
    expect(setBits(b)).toEqual([63]);
    expect(await tracker.sync(0, new DirtyBitmap(1024))).toBe(0);
  });

  it('migrates a guest that does not mark its writes at all, byte-identical', async () => {
    const kernels = await loadKernels();
    // The guest marks a write barrier nobody reads: only the hash scan sees its writes.
    const pair = await migrationPair({
      memory: 16 * MiB,
      guest: { pagesPerSec: 10_000, workingSetFraction: 0.25 },
      tracker: (memory) => new HashScanTracker(memory, kernels),
    });
    const report = await pair.migrate();
    const incoming = await pair.destination.result;
    expectSameMemory(incoming.memory, pair.memory);
    expect(report.digest).toBe(incoming.digest);
  });
  it.each(['native', 'js'] as const)(
    "given the destination's hashes, finds the pages that differ from what was sent, a change undone between scan and send among them (%s kernels)",
    async (which) => {
      const kernels = await loadKernels({ native: which === 'native' });
      const memory = guestMemory([64 * 4096], { fill: { content: 'pattern', regions: [0], pages: (p) => p % 2 === 0 } });
      const sent = new BigUint64Array(64);
      kernels.hashPages(memory.regions[0]!.bytes, 4096, sent); // the destination holds what memory holds
      const tracker = new HashScanTracker(memory, kernels);
      tracker.compareWithSent(sent);
      await tracker.start();
      // Page 7 went out while another process held a lock word in it, released before the scan:
      // the last scan and the memory agree, the destination does not.
      const page7 = memory.page(0, 7);
      page7[0]! ^= 1;
      kernels.hashPages(page7, 4096, sent.subarray(7, 8));
      page7[0]! ^= 1;
      memory.page(0, 9).fill(3); // written, not sent yet
      memory.page(0, 11).set(memory.page(0, 11)); // rewritten with the same bytes: not dirty
      const into = new DirtyBitmap(64);
      expect(await tracker.sync(0, into)).toBe(2);
      expect(setBits(into)).toEqual([7, 9]);
      // Once the destination has page 9's content and page 7's again, nothing is dirty.
      kernels.hashPages(memory.regions[0]!.bytes, 4096, sent);
      expect(await tracker.sync(0, new DirtyBitmap(64))).toBe(0);
    },
  );
});

describe('PerRegionTracker', () => {
  it('tracks each region with its own tracker and migrates byte-identical', async () => {
    const kernels = await loadKernels();
    const pair = await migrationPair({
      memory: [8 * MiB, 8 * MiB],
      guest: { pagesPerSec: 10_000, workingSetFraction: 0.25 },
      tracker: (memory, barrier) => new PerRegionTracker([barrier, new HashScanTracker(memory, kernels)]),
    });
    expect(pair.tracker.kind).toBe('per-region(write-barrier,hash-scan)');
    const report = await pair.migrate({ maxBandwidth: 200e6 });
    const incoming = await pair.destination.result;
    expectSameMemory(incoming.memory, pair.memory);
    expect(report.digest).toBe(incoming.digest);
  });
});

describe('ExternalTracker', () => {
  it('takes KVM-layout logs (64-bit little-endian words) pushed by the control plane', async () => {
    const tracker = new ExternalTracker({ pageSize: 4096, regions: [{ name: 'ram0', sizeBytes: 100 * 4096 }] });
    tracker.start();
    const log = new BigUint64Array(2);
    log[0] = (1n << 0n) | (1n << 33n) | (1n << 63n);
    log[1] = (1n << 35n) | (1n << 36n); // pages 99 and 100: 100 is past the region
    tracker.push(0, log);
    tracker.push(0, Uint32Array.of(1 << 5));
    const into = new DirtyBitmap(100);
    expect(await tracker.sync(0, into)).toBe(5);
    expect(setBits(into)).toEqual([0, 5, 33, 63, 99]);
    expect(await tracker.sync(0, new DirtyBitmap(100))).toBe(0);
  });

  it('lets the control plane fetch a fresh log just before each sync', async () => {
    const fetched: number[] = [];
    const tracker: ExternalTracker = new ExternalTracker(
      { pageSize: 4096, regions: [{ name: 'ram0', sizeBytes: 64 * 4096 }] },
      {
        onSync: (region) => {
          fetched.push(region);
          tracker.push(region, Uint32Array.of(0b1010));
        },
      },
    );
    const into = new DirtyBitmap(64);
    expect(await tracker.sync(0, into)).toBe(2);
    expect(fetched).toEqual([0]);
  });
});

describe('measureDirtyRate', () => {
  it('reports a rate and a working set bounded by what the guest can touch', async () => {
    const source = await sourceHost({ memory: 16 * MiB, guest: { pagesPerSec: 20_000, workingSetFraction: 0.1 } });
    const sample = await measureDirtyRate({ tracker: source.barrier, layout: source.memory.layout, durationMs: 300, intervalMs: 60 });
    await source.close();
    expect(sample.dirtyPagesPerSec).toBeGreaterThan(0);
    expect(sample.workingSetPages).toBeGreaterThan(0);
    expect(sample.workingSetPages).toBeLessThanOrEqual(Math.floor(4096 * 0.1));
    expect(sample.intervalsPagesPerSec.length).toBeGreaterThanOrEqual(4);
  });

  it('reports zero for a guest that writes nothing, also with the hash-scan tracker', async () => {
    const memory = guestMemory(4 * MiB);
    const sample = await measureDirtyRate({
      tracker: new HashScanTracker(memory, await loadKernels()),
      layout: memory.layout,
      durationMs: 100,
    });
    expect(sample.dirtyPagesPerSec).toBe(0);
    expect(sample.workingSetPages).toBe(0);
  });
});
