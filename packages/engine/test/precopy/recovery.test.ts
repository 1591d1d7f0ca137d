import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/index.ts';
import { findTornPages } from '../../src/testing/index.ts';
import { cuttableProxy, expectSameMemory, MiB, migrationPair } from '../harness/index.ts';

describe('resumable pre-copy', () => {
  it.each([1, 2, 3])('reconnects after cuts at random moments, resends only what may be lost, ends byte-identical (run %i)', async () => {
    const pair = await migrationPair({
      memory: [24 * MiB, 8 * MiB],
      fill: { content: 'pattern', regions: [0] },
      guest: { pagesPerSec: 2_000, workingSetFraction: 0.2 },
    });
    const { memory } = pair;
    const proxy = await cuttableProxy(pair.destination.port);
    const recovered: number[] = [];
    const cuts = [20 + Math.random() * 250, 300 + Math.random() * 250];
    for (const at of cuts) setTimeout(() => proxy.cut(), at);
    const report = await pair.migrate({
      port: proxy.port,
      // About 0.7 s of pre-copy, so both cuts land in it.
      maxBandwidth: 50e6,
      maxDowntimeMs: 100,
      precopyRecoveryMs: 5_000,
      onEvent: (e) => {
        if (e.type === 'recovered') recovered.push(e.missingPages);
      },
    });
    const incoming = await pair.destination.result;
    expect(pair.plane.count('resume')).toBe(0);
    expect(report.recoveries).toBeGreaterThanOrEqual(1);
    expect(incoming.recoveries).toBe(report.recoveries);
    expectSameMemory(incoming.memory, memory);
    expect(findTornPages(incoming.memory)).toEqual([]);
    expect(report.digest).toBe(incoming.digest);
    // What arrived stays: less than twice the memory crossed the wire, cuts included.
    expect(report.bytesSent).toBeLessThan(2 * memory.totalBytes);
    expect(Math.min(...recovered)).toBeLessThan(memory.totalPages);
  });

  it('without precopyRecoveryMs a cut fails the migration at once and the guest runs on', async () => {
    const pair = await migrationPair({ memory: 16 * MiB, fill: 'pattern', guest: { pagesPerSec: 2_000 } });
    const proxy = await cuttableProxy(pair.destination.port);
    setTimeout(() => proxy.cut(), 50);
    await expect(pair.migrate({ port: proxy.port, maxBandwidth: 50e6 })).rejects.toMatchObject({ code: ErrorCode.CONNECTION_LOST });
    expect(pair.guest.paused).toBe(false);
    await expect(pair.destination.result).rejects.toBeDefined();
  });

  it('gives up after precopyRecoveryMs when the destination stays unreachable; the guest runs on', async () => {
    const pair = await migrationPair({
      memory: 16 * MiB,
      fill: 'pattern',
      guest: { pagesPerSec: 2_000 },
      destination: { recoveryTimeoutMs: 400 },
    });
    const proxy = await cuttableProxy(pair.destination.port);
    setTimeout(() => {
      proxy.refuse(true);
      proxy.cut();
    }, 50);
    await expect(pair.migrate({ port: proxy.port, maxBandwidth: 50e6, precopyRecoveryMs: 300 })).rejects.toMatchObject({
      code: ErrorCode.TIMEOUT,
    });
    expect(pair.guest.paused).toBe(false);
    await expect(pair.destination.result).rejects.toMatchObject({ code: ErrorCode.TIMEOUT });
  });
});
