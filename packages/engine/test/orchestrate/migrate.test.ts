import { describe, expect, it } from 'vitest';
import { type DirtyBitmap, type FerryError, loadKernels, type MigrationEvent, policies, SwitchoverHistory } from '../../src/index.ts';
import { findTornPages } from '../../src/testing/index.ts';
import { expectSameMemory, MiB, migrationPair } from '../harness/index.ts';

describe('migrate', () => {
  it('moves 64 MiB with a guest writing throughout and ends byte-identical', async () => {
    const pair = await migrationPair({ memory: [48 * MiB, 16 * MiB], guest: { pagesPerSec: 20_000, workingSetFraction: 0.25 } });
    const { guest, plane } = pair;
    const events: MigrationEvent[] = [];
    const history = new SwitchoverHistory();
    // Let the guest dirty memory before the migration starts.
    await new Promise((r) => setTimeout(r, 200));
    const report = await pair.migrate({
      maxDowntimeMs: 50,
      onEvent: (e) => events.push(e),
      switchoverHistory: history,
    });
    const incoming = await pair.destination.result;
    expect(guest.paused).toBe(true);
    expect(plane.released).toBe(true);
    expect(pair.destination.plane.calls).toEqual(['loadDeviceState', 'resume']);
    expect(pair.destination.plane.resumed[0]!.memory).toBe(incoming.memory);
    expectSameMemory(incoming.memory, pair.memory);
    expect(findTornPages(incoming.memory)).toEqual([]);
    expect(guest.writes).toBeGreaterThan(1000);
    expect(plane.saved).toHaveLength(1);
    expect(pair.destination.plane.loaded).toEqual(plane.saved);
    expect(pair.destination.plane.loaded[0]).toEqual(new Uint8Array(new BigUint64Array([BigInt(guest.writes)]).buffer));
    expect(report.outcome).toBe('completed');
    expect(report.digest).toBe(incoming.digest);
    expect(report.rounds.length).toBeGreaterThanOrEqual(2);
    expect(report.downtimeMs).toBeGreaterThan(0);
    expect(events.some((e) => e.type === 'round-end')).toBe(true);
    // The prediction behind the switchover comes with its parts and the inputs that made it.
    const switchover = events.find((e) => e.type === 'switchover');
    const prediction = switchover?.type === 'switchover' ? switchover.prediction : undefined;
    expect(prediction).toBeDefined();
    expect(prediction!.totalMs).toBe(switchover!.type === 'switchover' && switchover!.predictedDowntimeMs);
    expect(prediction!.transferMs + prediction!.fixedMs).toBeCloseTo(prediction!.totalMs, 9);
    expect(prediction!.inputs.bandwidthBytesPerSec).toBeGreaterThan(0);
    // The round trip was timed with ECHO on the live connection, not assumed.
    expect(prediction!.inputs.costs!.roundTripMs).toBeGreaterThan(0);
    expect(prediction!.inputs.costs!.roundTripMs).toBeLessThan(prediction!.fixedMs);
    // Every round after the first carries the prediction made at the sync that began it.
    for (const r of report.rounds.slice(1)) expect(r.prediction?.totalMs).toBe(r.predictedDowntimeMs);
    expect(report.rounds[0]!.prediction).toBeUndefined();
    // The completed switchover went into the history a control plane keeps for the next one.
    expect(history.samples).toBe(1);
  });

  it('interoperates across kernels: a TypeScript-fallback source and a native destination agree byte for byte', async () => {
    const pair = await migrationPair({
      memory: 16 * MiB,
      guest: { pagesPerSec: 10_000 },
      destination: { kernels: await loadKernels({ native: true }) },
    });
    const report = await pair.migrate({ kernels: await loadKernels({ native: false }) });
    const incoming = await pair.destination.result;
    expect(report.kernels).toBe('js');
    expect(report.digest).toBe(incoming.digest);
    expectSameMemory(incoming.memory, pair.memory);
  });

  it("catches a dirty tracker that misses writes with verify: 'memory': the digests differ and the source guest runs on", async () => {
    // A broken tracker: its final sync (while paused) forgets everything the guest wrote.
    let syncs = 0;
    let switchedOver = false;
    const pair = await migrationPair({
      memory: 16 * MiB,
      guest: { pagesPerSec: 50_000 },
      tracker: (_memory, real) => ({
        kind: 'broken',
        start: () => real.start(),
        stop: () => real.stop(),
        sync: (region: number, into: DirtyBitmap) => {
          syncs++;
          if (!switchedOver) return real.sync(region, into);
          real.sync(region, into);
          into.clearAll();
          return 0;
        },
      }),
    });
    const { guest, plane } = pair;
    const err = (await pair
      .migrate({
        maxRounds: 2,
        onWontConverge: 'switchover',
        verify: 'memory',
        onEvent: (e) => {
          if (e.type === 'switchover') switchedOver = true;
        },
      })
      .catch((e: unknown) => e)) as FerryError;
    expect(syncs).toBeGreaterThan(1);
    // Version 3: the source withholds its digest and finds the destination's READY differs.
    expect(err).toMatchObject({ code: 'FERRY_DIGEST_MISMATCH' });
    await expect(pair.destination.result).rejects.toMatchObject({
      code: 'FERRY_ABORTED',
      message: expect.stringContaining('FERRY_DIGEST_MISMATCH'),
    });
    expect(guest.paused).toBe(false);
    expect(plane.released).toBe(false);
    expect(plane.calls).toEqual(['pause', 'saveDeviceState', 'resume']);
  });

  it("verifies from the pages as sent with verify: 'sent', with no digest pass during downtime", async () => {
    const pair = await migrationPair({ memory: [8 * MiB, 8 * MiB], guest: { pagesPerSec: 20_000 } });
    const report = await pair.migrate({ verify: 'sent' });
    const incoming = await pair.destination.result;
    expect(report.verify).toBe('sent');
    expect(report.digest).toBe(incoming.digest);
    expectSameMemory(incoming.memory, pair.memory);
  });

  it.each(['lz4', 'xbzrle', 'adaptive'] as const)(
    'moves memory byte-identical with %s compression, a guest writing and a capped link',
    async (compression) => {
      // Compressible content, seven distinct pages over and over, that the guest then keeps overwriting in part.
      const pair = await migrationPair({
        memory: 16 * MiB,
        fill: { content: 'text', variants: 7 },
        guest: { pagesPerSec: 5_000, workingSetFraction: 0.1 },
      });
      const report = await pair.migrate({
        compression,
        maxBandwidth: 100_000_000,
        // Exactly four rounds, whatever the prediction: pages re-dirtied between them meet their cached bases.
        policy: policies.maxRounds(4),
      });
      const incoming = await pair.destination.result;
      expectSameMemory(incoming.memory, pair.memory);
      expect(report.digest).toBe(incoming.digest);
      expect(report.codecs.mode).toBe(compression);
      const p = report.codecs.pages;
      // The guest rewrites whole pages, so XBZRLE finds cached bases but mostly falls back.
      if (compression === 'xbzrle') expect(report.codecs.xbzrleCache.hits).toBeGreaterThan(0);
      if (compression === 'lz4') expect(p.lz4).toBeGreaterThan(1000);
      if (compression === 'adaptive') expect(p.dedup).toBeGreaterThan(1000);
      if (compression !== 'xbzrle') expect(report.bytesSent).toBeLessThan(8 * MiB);
    },
  );

  it('converges a guest that dirties faster than the link by throttling it (auto-converge)', async () => {
    // 20 000 pages/s (80 MB/s) over a 20 MB/s link: pre-copy alone cannot catch up.
    const pair = await migrationPair({ memory: 16 * MiB, fill: 'pattern', guest: { pagesPerSec: 20_000, workingSetFraction: 0.25 } });
    const { plane } = pair;
    const events: MigrationEvent[] = [];
    const report = await pair.migrate({
      maxBandwidth: 20_000_000,
      verify: 'sent',
      policy: policies.firstOf(
        policies.downtimeLimit(60),
        policies.nothingLeft(),
        policies.autoConverge({ initial: 50, increment: 20, max: 99, rounds: 2 }),
        policies.maxRounds(40),
      ),
      onEvent: (e) => events.push(e),
    });
    const incoming = await pair.destination.result;
    expectSameMemory(incoming.memory, pair.memory);
    expect(plane.throttles.length).toBeGreaterThan(0);
    expect(plane.throttles[0]).toBe(50);
    expect(plane.throttles).toEqual([...plane.throttles].sort((a, b) => a - b));
    const throttled = events.filter((e) => e.type === 'throttle');
    expect(throttled.length).toBe(plane.throttles.length);
    expect(events.find((e) => e.type === 'switchover')).toMatchObject({
      reason: expect.stringMatching(/converged|nothing-left|max-rounds/),
    });
    expect(report.outcome).toBe('completed');
  });

  it('lifts the throttle when a throttled migration fails, and the guest runs on at full rate', async () => {
    const pair = await migrationPair({ memory: 16 * MiB, fill: 'pattern', guest: { pagesPerSec: 20_000, workingSetFraction: 0.25 } });
    const { guest, plane } = pair;
    const err = await pair
      .migrate({
        maxBandwidth: 20_000_000,
        // A control plane's own policy: throttle after round 1, give up after round 2.
        policy: (f) =>
          f.roundsSent === 2
            ? { action: 'throttle', percent: 30, reason: 'test' }
            : f.roundsSent >= 3
              ? { action: 'abort', reason: 'test gives up' }
              : { action: 'continue' },
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FERRY_ABORTED' });
    expect(plane.throttles[0]).toBe(30);
    expect(plane.throttles.at(-1)).toBe(0);
    expect(guest.throttlePercent).toBe(0);
    expect(guest.paused).toBe(false);
    expect(plane.count('pause')).toBe(0);
  });
});
