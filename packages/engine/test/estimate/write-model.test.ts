import { describe, expect, it } from 'vitest';
import { distinctPagesWritten, fitWriteModel } from '../../src/index.ts';

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
