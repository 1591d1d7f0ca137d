import { describe, expect, it } from 'vitest';
import {
  ErrorCode,
  migrate,
  type PlanInputs,
  plan,
  predictStrategies,
  probe,
  recommend,
  recommendedOptions,
  WriteBarrierTracker,
} from '../../src/index.ts';
import { WriterGuest } from '../../src/testing/index.ts';
import { guestMemory, listenSink, MiB } from '../harness/index.ts';

const base: PlanInputs = {
  pageSize: 4096,
  totalPages: 65_536,
  nonZeroFraction: 1,
  dirtyPagesPerSec: 0,
  workingSetPages: 0,
  bandwidthBytesPerSec: 125e6,
  rttMs: 0.2,
  deviceStateBytes: 64 * 1024,
  verifyMs: 40,
  lz4Ratio: 1, // incompressible unless a test says otherwise
  lz4BytesPerSec: 500e6,
  maxDowntimeMs: 300,
  maxRounds: 30,
};

describe('the plan model', () => {
  it('has an idle guest converge after one round, at the fixed cost', () => {
    const [pre] = predictStrategies(base);
    expect(pre!.converges).toBe(true);
    expect(pre!.rounds).toBe(2); // round 0, then the (empty) final round
    expect(pre!.downtimeMs).toBeCloseTo(base.verifyMs + 2 * base.rttMs + 1 + (64 * 1024 * 1000) / 125e6, 5);
    expect(pre!.totalMs).toBeCloseTo((65_536 * 4116 * 1000) / 125e6 + pre!.downtimeMs, 3);
    expect(recommend(predictStrategies(base)).strategy).toBe('precopy');
  });

  it('finds that pre-copy cannot converge when the guest outruns the link, and recommends moving by post-copy', () => {
    const heavy = { ...base, dirtyPagesPerSec: 60_000, workingSetPages: 65_536 }; // 245 MB/s over 125 MB/s
    const all = predictStrategies(heavy);
    const by = (s: string) => all.find((p) => p.strategy === s)!;
    expect(by('precopy').converges).toBe(false);
    expect(by('precopy').downtimeMs).toBeGreaterThan(300);
    expect(by('postcopy').converges).toBe(true);
    expect(by('hybrid').converges).toBe(true);
    const r = recommend(all);
    expect(['hybrid', 'postcopy']).toContain(r.strategy);
    expect(r.reasons.join(' ')).toMatch(/does not converge/);
  });

  it('predicts a post-copy downtime that does not grow with memory size', () => {
    const small = predictStrategies(base).find((p) => p.strategy === 'postcopy')!;
    const large = predictStrategies({ ...base, totalPages: 64 * 65_536 }).find((p) => p.strategy === 'postcopy')!;
    expect(large.downtimeMs).toBe(small.downtimeMs);
    expect(large.totalMs).toBeGreaterThan(32 * small.totalMs);
  });

  it('recommends LZ4 when only compressed pre-copy converges, and hybrid for a small hot set it cannot finish', () => {
    // 30k pages/s = 123 MB/s of writes: too much for 125 MB/s raw, fine at 0.2 the bytes.
    const compressible = { ...base, dirtyPagesPerSec: 30_000, workingSetPages: 65_536, lz4Ratio: 0.2 };
    expect(recommend(predictStrategies(compressible)).strategy).toBe('precopy-lz4');
    // The model's label becomes options migrate() takes: pre-copy with LZ4.
    expect(recommendedOptions(recommend(predictStrategies(compressible)).strategy)).toEqual({ strategy: 'precopy', compression: 'lz4' });
    expect(recommendedOptions('hybrid')).toEqual({ strategy: 'hybrid', compression: 'off' });
    // 10 000 hot pages take 329 ms to send at 125 MB/s, however short the round before.
    const hot = { ...base, dirtyPagesPerSec: 100_000, workingSetPages: 10_000, lz4Ratio: 1 };
    const r = recommend(predictStrategies(hot));
    expect(r.strategy).toBe('hybrid');
    expect(predictStrategies(hot).find((p) => p.strategy === 'hybrid')!.pagesAfterResume).toBeLessThanOrEqual(10_000);
  });

  it('never plans a round larger than memory, and stays defined for a saturated hot set', () => {
    // Writes that never repeat, twice as fast as the link: rounds grow until they resend all of memory.
    const sweep = {
      ...base,
      totalPages: 1000,
      bandwidthBytesPerSec: 1000 * 4116,
      dirtyPagesPerSec: 2000,
      workingSetPages: Number.POSITIVE_INFINITY,
      maxRounds: 10,
    };
    const pre = predictStrategies(sweep).find((p) => p.strategy === 'precopy')!;
    expect(pre.totalMs).toBeLessThan(11 * 1000 + 1000);
    const saturated = { ...base, dirtyPagesPerSec: 1e7, workingSetPages: 50_000 };
    for (const p of predictStrategies(saturated)) expect(Number.isFinite(p.totalMs)).toBe(true);
  });

  it('counts repeated writes to a working set once: shorter rounds leave fewer pages, not proportionally fewer', () => {
    // 8 000 hot pages at 100k writes/s: a round of 263 ms finds 96% of them dirty, not all,
    // and the shorter round that follows fits a 300 ms limit the first could not.
    const hot = { ...base, dirtyPagesPerSec: 100_000, workingSetPages: 8_000, lz4Ratio: 1 };
    const pre = predictStrategies(hot).find((p) => p.strategy === 'precopy')!;
    expect(pre.converges).toBe(true);
    expect(pre.rounds).toBe(3);
  });
});

describe('probe() measuring the link, and plan()', () => {
  it('measures the link with PROBE_DATA, moving no guest memory', async () => {
    const destination = await listenSink();
    const answer = await probe({
      host: '127.0.0.1',
      port: destination.port,
      layout: { pageSize: 4096, regions: [{ name: 'ram0', sizeBytes: MiB }] },
      measureBytes: 16 * MiB,
    });
    expect(answer.accepted).toBe(true);
    if (answer.accepted) {
      expect(answer.bandwidthBytesPerSec).toBeGreaterThan(0);
      expect(answer.rttMs).toBeGreaterThan(0);
    }
    await destination.close();
  });

  it('plans an idle guest as pre-copy, and a guest outrunning a capped link as hybrid or post-copy', async () => {
    // Half the pages hold data, the other half are zero.
    const memory = guestMemory(16 * MiB, { fill: { content: 'pattern', pages: (p) => p < 2048 } });
    const destination = await listenSink();
    const tracker = new WriteBarrierTracker(memory.layout);
    const idle = await plan({ host: '127.0.0.1', port: destination.port, memory, tracker, sampleMs: 200, probeBytes: 8 * MiB });
    expect(idle.recommended).toBe('precopy');
    expect(idle.options).toEqual({ strategy: 'precopy', compression: 'off' });
    expect(idle.recommendedPrediction).toBe('precopy');
    // What the plan recommends is what migrate() takes: the options spread straight in.
    const target = await listenSink();
    const moved = await migrate({
      host: '127.0.0.1',
      port: target.port,
      memory,
      tracker,
      controlPlane: { pause() {}, resume() {}, saveDeviceState: () => new Uint8Array(0) },
      ...idle.options,
    });
    expect(moved.strategy).toBe('precopy');
    expect(idle.inputs.nonZeroFraction).toBeCloseTo(0.5, 1);
    expect(idle.inputs.bandwidthBytesPerSec).toBeGreaterThan(0);
    expect(idle.dirtyRate.dirtyPagesPerSec).toBe(0);

    const guest = new WriterGuest(memory, tracker, { pagesPerSec: 20_000, workingSetFraction: 1 });
    await guest.ready;
    await new Promise((r) => setTimeout(r, 200));
    // 20k pages/s is 82 MB/s of writes over a 20 MB/s cap.
    const busy = await plan({
      host: '127.0.0.1',
      port: destination.port,
      memory,
      tracker,
      sampleMs: 300,
      probeBytes: 8 * MiB,
      maxBandwidth: 20e6,
      maxDowntimeMs: 50,
    });
    await guest.stop();
    expect(busy.inputs.dirtyPagesPerSec).toBeGreaterThan(1000);
    expect(busy.strategies.find((s) => s.strategy === 'precopy')!.converges).toBe(false);
    expect(['hybrid', 'postcopy']).toContain(busy.recommended);
    expect(busy.options).toEqual({ strategy: busy.recommended, compression: 'off' });
    await destination.close();
  });

  it('says so when the destination would refuse the guest', async () => {
    const destination = await listenSink({ maxGuestBytes: MiB });
    const memory = guestMemory(4 * MiB);
    await expect(
      plan({ host: '127.0.0.1', port: destination.port, memory, tracker: new WriteBarrierTracker(memory.layout), sampleMs: 50 }),
    ).rejects.toMatchObject({ code: ErrorCode.INCOMPATIBLE_GUEST });
    await destination.close();
  });
});
