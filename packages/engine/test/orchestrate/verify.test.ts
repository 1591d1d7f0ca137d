import { describe, expect, it } from 'vitest';
import { type DirtyBitmap, type DirtyTracker, type FerryError, KernelWriteTracker, type MigrationEvent } from '../../src/index.ts';
import { expectSameMemory, MiB, migrationPair } from '../harness/index.ts';

/** A tracker that, once told, forgets everything the guest wrote at each sync (a broken dirty log). */
function forgetful(real: DirtyTracker, forgetting: () => boolean): DirtyTracker {
  return {
    kind: 'forgetful',
    start: () => real.start(),
    stop: () => real.stop(),
    sync: async (region: number, into: DirtyBitmap) => {
      if (!forgetting()) return real.sync(region, into);
      await real.sync(region, into);
      into.clearAll();
      return 0;
    },
  };
}

const kernel = KernelWriteTracker.support();

describe('verification without a pass over memory during the pause', () => {
  it.skipIf(!kernel.available)(
    "verify: 'auto' cross-checks a write barrier with the kernel's tracking, and repairs what the barrier missed before the resume",
    async () => {
      let forgetting = false;
      const pair = await migrationPair({
        memory: 16 * MiB,
        backing: 'mapped',
        guest: { pagesPerSec: 50_000 },
        tracker: (_memory, barrier) => forgetful(barrier, () => forgetting),
      });
      const events: MigrationEvent[] = [];
      const report = await pair.migrate({
        maxDowntimeMs: 300,
        onEvent: (e) => {
          events.push(e);
          // After round 0 the barrier reports nothing: only the kernel's tracking sees the writes.
          if (e.type === 'round-end' && e.stats.round === 0) forgetting = true;
        },
      });
      const incoming = await pair.destination.result;
      expect(report.verify).toBe('tracker');
      expect(report.verification.tracker).toBe('forgetful+kernel-write');
      expect(report.verification.trackerMissedPages).toBeGreaterThan(0);
      // Repaired: the destination holds the source's frozen memory, and the audit agrees.
      expectSameMemory(incoming.memory, pair.memory);
      expect(report.verification.audit).toMatchObject({ mismatchedPages: 0, checkedPages: pair.memory.totalPages });
      expect(events.some((e) => e.type === 'audit')).toBe(true);
    },
  );

  it("verify: 'sent' trusts the tracker before the resume, and the audit after it finds and lists what it missed", async () => {
    let switchedOver = false;
    const pair = await migrationPair({
      memory: 16 * MiB,
      guest: { pagesPerSec: 50_000 },
      tracker: (_memory, barrier) => forgetful(barrier, () => switchedOver),
    });
    const audits: MigrationEvent[] = [];
    const report = await pair.migrate({
      verify: 'sent',
      maxRounds: 2,
      onWontConverge: 'switchover',
      onEvent: (e) => {
        if (e.type === 'switchover') switchedOver = true;
        if (e.type === 'audit') audits.push(e);
      },
    });
    const audit = report.verification.audit!;
    expect(audit.mismatchedPages).toBeGreaterThan(0);
    expect(audit.firstMismatches.length).toBe(Math.min(16, audit.mismatchedPages));
    expect(audit.firstMismatches[0]).toMatchObject({ region: 'ram0', page: expect.any(Number) });
    expect(audits).toHaveLength(1);
    await pair.destination.result;
  });

  it("verify: 'tracker' without a second tracker that can run fails before anything moves, naming the remedy", async () => {
    const pair = await migrationPair({ memory: 4 * MiB });
    const err = (await pair.migrate({ verify: 'tracker' }).catch((e: unknown) => e)) as FerryError;
    expect(err).toMatchObject({ code: 'FERRY_INVALID_ARGUMENT', message: expect.stringContaining('verifyTracker') });
    expect(pair.plane.calls).toEqual([]);
  });

  it("audits nothing with verify: 'memory', which hashed all memory during the pause", async () => {
    const pair = await migrationPair({ memory: 4 * MiB, fill: 'pattern' });
    const report = await pair.migrate({ verify: 'memory' });
    await pair.destination.result;
    expect(report.verification).toMatchObject({ mode: 'memory', audit: null, trackerMissedPages: 0 });
  });
});
