import { describe, expect, it } from 'vitest';
import { ErrorCode, GuestMemory, migrate, WriteBarrierTracker } from '../../src/index.ts';
import { findTornPages, WriterGuest, writePattern } from '../../src/testing/index.ts';
import { cuttableProxy, listenSink } from '../helpers.ts';

const MiB = 1024 * 1024;

describe('resumable pre-copy', () => {
  it.each([1, 2, 3])('reconnects after cuts at random moments, resends only what may be lost, ends byte-identical (run %i)', async () => {
    const memory = GuestMemory.create({
      regions: [
        { name: 'ram0', sizeBytes: 24 * MiB },
        { name: 'ram1', sizeBytes: 8 * MiB },
      ],
    });
    for (let p = 0; p < memory.region(0).pageCount; p++) writePattern(memory.page(0, p), p, 1);
    const tracker = new WriteBarrierTracker(memory.layout);
    const guest = new WriterGuest(memory, tracker, { pagesPerSec: 2_000, workingSetFraction: 0.2 });
    await guest.ready;
    const destination = await listenSink();
    const proxy = await cuttableProxy(destination.port);
    const recovered: number[] = [];
    let resumedHere = 0;
    try {
      const cuts = [20 + Math.random() * 250, 300 + Math.random() * 250];
      for (const at of cuts) setTimeout(() => proxy.cut(), at);
      const report = await migrate({
        host: '127.0.0.1',
        port: proxy.port,
        memory,
        tracker,
        // About 0.7 s of pre-copy, so both cuts land in it.
        maxBandwidth: 50e6,
        maxDowntimeMs: 100,
        precopyRecoveryMs: 5_000,
        controlPlane: {
          ...guest.controlPlane(),
          resume: () => {
            resumedHere++;
            return guest.controlPlane().resume();
          },
        },
        onEvent: (e) => {
          if (e.type === 'recovered') recovered.push(e.missingPages);
        },
      });
      const incoming = await destination.result;
      expect(resumedHere).toBe(0);
      expect(report.recoveries).toBeGreaterThanOrEqual(1);
      expect(incoming.recoveries).toBe(report.recoveries);
      for (let r = 0; r < 2; r++) expect(Buffer.compare(memory.region(r).bytes, incoming.memory.region(r).bytes)).toBe(0);
      expect(findTornPages(incoming.memory)).toEqual([]);
      expect(report.digest).toBe(incoming.digest);
      // What arrived stays: less than twice the memory crossed the wire, cuts included.
      expect(report.bytesSent).toBeLessThan(2 * memory.totalBytes);
      expect(Math.min(...recovered)).toBeLessThan(memory.totalPages);
    } finally {
      await guest.stop();
      await proxy.close();
    }
  });

  it('without precopyRecoveryMs a cut fails the migration at once and the guest runs on', async () => {
    const memory = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 16 * MiB }] });
    for (let p = 0; p < memory.region(0).pageCount; p++) writePattern(memory.page(0, p), p, 1);
    const tracker = new WriteBarrierTracker(memory.layout);
    const guest = new WriterGuest(memory, tracker, { pagesPerSec: 2_000 });
    await guest.ready;
    const destination = await listenSink();
    const proxy = await cuttableProxy(destination.port);
    try {
      setTimeout(() => proxy.cut(), 50);
      await expect(
        migrate({ host: '127.0.0.1', port: proxy.port, memory, tracker, maxBandwidth: 50e6, controlPlane: guest.controlPlane() }),
      ).rejects.toMatchObject({ code: ErrorCode.CONNECTION_LOST });
      expect(guest.paused).toBe(false);
      await expect(destination.result).rejects.toBeDefined();
    } finally {
      await guest.stop();
      await proxy.close();
    }
  });

  it('gives up after precopyRecoveryMs when the destination stays unreachable; the guest runs on', async () => {
    const memory = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 16 * MiB }] });
    for (let p = 0; p < memory.region(0).pageCount; p++) writePattern(memory.page(0, p), p, 1);
    const tracker = new WriteBarrierTracker(memory.layout);
    const guest = new WriterGuest(memory, tracker, { pagesPerSec: 2_000 });
    await guest.ready;
    const destination = await listenSink({ recoveryTimeoutMs: 400 });
    const proxy = await cuttableProxy(destination.port);
    try {
      setTimeout(() => {
        proxy.refuse(true);
        proxy.cut();
      }, 50);
      await expect(
        migrate({
          host: '127.0.0.1',
          port: proxy.port,
          memory,
          tracker,
          maxBandwidth: 50e6,
          precopyRecoveryMs: 300,
          controlPlane: guest.controlPlane(),
        }),
      ).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
      expect(guest.paused).toBe(false);
      await expect(destination.result).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
    } finally {
      await guest.stop();
      await proxy.close();
    }
  });
});
