import { describe, expect, it } from 'vitest';
import type { FerryError, MigrationEvent } from '../../src/index.ts';
import { expectSameMemory, MiB, migrationPair } from '../harness/index.ts';

/** The downtime limit as a promise: never a pause over it unless the caller said so. */
describe('the downtime limit', () => {
  it('ends a pre-copy that cannot fit with FERRY_WONT_CONVERGE, the guest never paused and running on', async () => {
    // Every page of 16 MiB rewritten at 40k pages/s over a 20 MB/s link: no round can fit 1 ms.
    const pair = await migrationPair({
      memory: 16 * MiB,
      guest: { pagesPerSec: 40_000, workingSetFraction: 1 },
    });
    const writesBefore = pair.guest.writes;
    // A control plane that cannot throttle: nothing to escalate to.
    const { throttle: _, ...cannotThrottle } = pair.plane;
    const err = (await pair
      .migrate({ controlPlane: cannotThrottle, maxBandwidth: 20e6, maxDowntimeMs: 1, convergeTimeoutMs: 3000 })
      .catch((e: unknown) => e)) as FerryError;
    expect(err).toMatchObject({ code: 'FERRY_WONT_CONVERGE', message: expect.stringContaining('maxDowntimeMs 1 ms') });
    expect(err.message).toMatch(/converge-timeout|max-rounds/);
    expect(pair.plane.calls).not.toContain('pause');
    expect(pair.plane.released).toBe(false);
    await new Promise((r) => setTimeout(r, 50));
    expect(pair.guest.paused).toBe(false);
    expect(pair.guest.writes).toBeGreaterThan(writesBefore);
    await expect(pair.destination.result).rejects.toMatchObject({ name: expect.any(String) });
  });

  it('throttles through the hook first, then pauses over the limit only when told to, and says so', async () => {
    const pair = await migrationPair({ memory: 16 * MiB, guest: { pagesPerSec: 40_000, workingSetFraction: 1 } });
    const events: MigrationEvent[] = [];
    const report = await pair.migrate({
      maxBandwidth: 20e6,
      maxDowntimeMs: 1,
      onWontConverge: 'switchover',
      onEvent: (e) => events.push(e),
    });
    const incoming = await pair.destination.result;
    // The recording plane's throttle does not slow this guest: the escalation runs its course.
    expect(pair.plane.throttles.slice(0, 3)).toEqual([20, 30, 40]);
    expect(pair.plane.throttles.at(-1)).toBe(99);
    expect(report.switchover.reason).toMatch(/wont-converge|no-progress|fixed-above-limit/);
    expect(report.switchover.limitMs).toBe(1);
    expect(report.switchover.predictedDowntimeMs).toBeGreaterThan(1);
    expect(report.switchover.limitExceeded).toBe(report.downtimeMs > 1);
    expect(events.find((e) => e.type === 'switchover')).toMatchObject({ reason: report.switchover.reason });
    expectSameMemory(incoming.memory, pair.memory);
  });

  it('reports the decision and its prediction on a migration that fits', async () => {
    const pair = await migrationPair({ memory: 8 * MiB, fill: 'pattern', guest: { pagesPerSec: 1_000 } });
    const report = await pair.migrate({ maxDowntimeMs: 300 });
    await pair.destination.result;
    expect(report.switchover.reason).toMatch(/converged|nothing-left/);
    expect(report.switchover.predictedDowntimeMs).toBeLessThanOrEqual(300);
    expect(report.switchover.limitExceeded).toBe(report.downtimeMs > 300);
  });
});
