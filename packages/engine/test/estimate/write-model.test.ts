import { describe, expect, it } from 'vitest';
import { distinctPagesWritten, fitWriteModel, predictRound } from '../../src/index.ts';

/** Distinct pages after `writes` uniform random writes into `w` pages, exactly in expectation. */
const expected = (w: number, writes: number): number => w * (1 - (1 - 1 / w) ** writes);

describe('the write model', () => {
  it('recovers the write rate and working set from a sample of random writes', () => {
    // 20 000 writes/s into 32 768 pages, sampled as 5 intervals of 100 ms.
    const w = 32_768;
    const perInterval = expected(w, 2000);
    const union = expected(w, 10_000);
    const m = fitWriteModel({ perInterval, union, intervals: 5, intervalMs: 100 });
    expect(m.workingSetPages).toBeGreaterThan(0.97 * w);
    expect(m.workingSetPages).toBeLessThan(1.03 * w);
    expect(m.writePagesPerSec).toBeGreaterThan(19_400);
    expect(m.writePagesPerSec).toBeLessThan(20_600);
    expect(distinctPagesWritten(m, 1000)).toBeCloseTo(expected(w, 20_000), -2);
  });

  it('sees a small hot set saturate: more time adds no pages', () => {
    const m = fitWriteModel({ perInterval: expected(1000, 5000), union: expected(1000, 25_000), intervals: 5, intervalMs: 100 });
    expect(m.workingSetPages).toBeCloseTo(1000, -1);
    expect(distinctPagesWritten(m, 10_000)).toBeLessThanOrEqual(m.workingSetPages);
    expect(distinctPagesWritten(m, 10_000)).toBeGreaterThan(0.99 * m.workingSetPages);
  });

  it('takes writes that never repeat (a sweep) as an unbounded working set at the sampled rate', () => {
    const m = fitWriteModel({ perInterval: 2000, union: 10_000, intervals: 5, intervalMs: 100 });
    expect(m.workingSetPages).toBe(Number.POSITIVE_INFINITY);
    expect(m.writePagesPerSec).toBe(20_000);
    expect(distinctPagesWritten(m, 250)).toBe(5000);
  });

  it('is zero for an idle guest', () => {
    const m = fitWriteModel({ perInterval: 0, union: 0, intervals: 5, intervalMs: 100 });
    expect(m.writePagesPerSec).toBe(0);
    expect(distinctPagesWritten(m, 1000)).toBe(0);
  });
});

describe('a predicted pre-copy round', () => {
  const m = { writePagesPerSec: 100_000, workingSetPages: 32_768 };
  it('leaves fewer pages dirty when bits are taken just before sending than at the round start, and sends more', () => {
    const first = { profile: null, firstRoundPages: 32_768, msPerPage: 0.033, lead: 1 } as const;
    const atStart = predictRound(m, first);
    const asSent = predictRound(m, { ...first, lead: 0 });
    expect(atStart.dirtyPages).toBeCloseTo(distinctPagesWritten(m, atStart.ms), 6);
    // Behind the cursor only: W (1 - (1 - e^-a) / a), a = r t / W.
    const a = (100 * atStart.ms) / 32_768;
    expect(asSent.dirtyPages).toBeCloseTo(32_768 * (1 - (1 - Math.exp(-a)) / a), -2);
    const next = predictRound(m, { ...first, profile: asSent.profile, lead: 0 });
    expect(next.sentPages).toBeGreaterThan(asSent.dirtyPages);
    expect(next.ms).toBeCloseTo(next.sentPages * 0.033, 2); // the round's time and what it sends agree
  });

  it('sends nothing after round 0 for an idle guest', () => {
    const idle = fitWriteModel({ perInterval: 0, union: 0, intervals: 5, intervalMs: 100 });
    const r0 = predictRound(idle, { profile: null, firstRoundPages: 1000, msPerPage: 0.01, lead: 0 });
    expect(r0).toMatchObject({ sentPages: 1000, dirtyPages: 0 });
    expect(predictRound(idle, { profile: r0.profile, firstRoundPages: 1000, msPerPage: 0.01, lead: 0 }).sentPages).toBe(0);
  });
});

describe('the write model at its edges', () => {
  it('takes intervals that all wrote the same pages as a saturated set with a finite rate, and predicts numbers', () => {
    const m = fitWriteModel({ perInterval: 50_000, union: 50_000, intervals: 5, intervalMs: 200 });
    expect(m.workingSetPages).toBe(50_000);
    expect(Number.isFinite(m.writePagesPerSec)).toBe(true);
    for (const lead of [0, 0.1, 1]) {
      const r0 = predictRound(m, { profile: null, firstRoundPages: 65_536, msPerPage: 0.04, lead });
      const r1 = predictRound(m, { profile: r0.profile, firstRoundPages: 65_536, msPerPage: 0.04, lead });
      for (const v of [r0.dirtyPages, r1.sentPages, r1.ms, r1.dirtyPages]) expect(Number.isFinite(v)).toBe(true);
    }
  });
});
