import { describe, expect, it } from 'vitest';
import {
  DirtyBitmap,
  ExternalTracker,
  GuestMemory,
  HashScanTracker,
  loadKernels,
  measureDirtyRate,
  migrate,
  PerRegionTracker,
  WriteBarrierTracker,
} from '../../src/index.ts';
import { WriterGuest, writePattern } from '../../src/testing/index.ts';
import { listenSink } from '../helpers.ts';

const MiB = 1024 * 1024;

function setBits(b: DirtyBitmap): number[] {
  const out: number[] = [];
  for (let i = b.nextSet(0); i >= 0; i = b.nextSet(i + 1)) out.push(i);
  return out;
}

describe('HashScanTracker', () => {
  it.each(['native', 'js'] as const)('finds exactly the pages whose content changed (%s kernels)', async (which) => {
    const memory = GuestMemory.create({
      regions: [
        { name: 'a', sizeBytes: 4 * MiB },
        { name: 'b', sizeBytes: 64 * 4096 },
      ],
    });
    for (let p = 0; p < 1024; p += 3) writePattern(memory.page(0, p), p, 1);
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
    const source = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 16 * MiB }] });
    // The guest marks a write barrier nobody reads: only the hash scan sees its writes.
    const unused = new WriteBarrierTracker(source.layout);
    const guest = new WriterGuest(source, unused, { pagesPerSec: 10_000, workingSetFraction: 0.25 });
    await guest.ready;
    const destination = await listenSink();
    const report = await migrate({
      host: '127.0.0.1',
      port: destination.port,
      memory: source,
      tracker: new HashScanTracker(source, await loadKernels()),
      controlPlane: guest.controlPlane(),
    });
    const incoming = await destination.result;
    expect(Buffer.compare(source.region(0).bytes, incoming.memory.region(0).bytes)).toBe(0);
    expect(report.digest).toBe(incoming.digest);
    await guest.stop();
  });
});

describe('PerRegionTracker', () => {
  it('tracks each region with its own tracker and migrates byte-identical', async () => {
    const source = GuestMemory.create({
      regions: [
        { name: 'ram0', sizeBytes: 8 * MiB },
        { name: 'ram1', sizeBytes: 8 * MiB },
      ],
    });
    const barrier = new WriteBarrierTracker(source.layout);
    const guest = new WriterGuest(source, barrier, { pagesPerSec: 10_000, workingSetFraction: 0.25 });
    await guest.ready;
    const tracker = new PerRegionTracker([barrier, new HashScanTracker(source, await loadKernels())]);
    expect(tracker.kind).toBe('per-region(write-barrier,hash-scan)');
    const destination = await listenSink();
    const report = await migrate({
      host: '127.0.0.1',
      port: destination.port,
      memory: source,
      tracker,
      controlPlane: guest.controlPlane(),
      maxBandwidth: 200e6,
    });
    const incoming = await destination.result;
    for (let r = 0; r < 2; r++) expect(Buffer.compare(source.region(r).bytes, incoming.memory.region(r).bytes)).toBe(0);
    expect(report.digest).toBe(incoming.digest);
    await guest.stop();
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
    const memory = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 16 * MiB }] });
    const tracker = new WriteBarrierTracker(memory.layout);
    const guest = new WriterGuest(memory, tracker, { pagesPerSec: 20_000, workingSetFraction: 0.1 });
    await guest.ready;
    const sample = await measureDirtyRate({ tracker, layout: memory.layout, durationMs: 300, intervalMs: 60 });
    await guest.stop();
    expect(sample.dirtyPagesPerSec).toBeGreaterThan(0);
    expect(sample.workingSetPages).toBeGreaterThan(0);
    expect(sample.workingSetPages).toBeLessThanOrEqual(Math.floor(4096 * 0.1));
    expect(sample.intervalsPagesPerSec.length).toBeGreaterThanOrEqual(4);
  });

  it('reports zero for a guest that writes nothing, also with the hash-scan tracker', async () => {
    const memory = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 4 * MiB }] });
    const sample = await measureDirtyRate({
      tracker: new HashScanTracker(memory, await loadKernels()),
      layout: memory.layout,
      durationMs: 100,
    });
    expect(sample.dirtyPagesPerSec).toBe(0);
    expect(sample.workingSetPages).toBe(0);
  });
});
