import { describe, expect, it } from 'vitest';
import { fitTwoRounds, projectConvergence } from '../../src/estimate/convergence.ts';

const dirtied = (w: number, r: number, ms: number): number => w * -Math.expm1((-r * ms) / 1000 / w);

describe('fitTwoRounds', () => {
  it('recovers the write rate and working set from two rounds of different length', () => {
    const m = fitTwoRounds(
      { ms: 6000, dirtyPages: dirtied(65_536, 50_000, 6000) },
      { ms: 1500, dirtyPages: dirtied(65_536, 50_000, 1500) },
    );
    expect(m.workingSetPages).toBeCloseTo(65_536, -1);
    expect(m.writePagesPerSec).toBeCloseTo(50_000, -2);
  });
  it('fits an unbounded set to writes that do not repeat', () => {
    const m = fitTwoRounds({ ms: 1000, dirtyPages: 5000 }, { ms: 200, dirtyPages: 1000 });
    expect(m.workingSetPages).toBe(Number.POSITIVE_INFINITY);
    expect(m.writePagesPerSec).toBeCloseTo(5000, 6);
  });
});

describe('projectConvergence', () => {
  const msPerPage = 0.0314;
  it('finds the round that fits a converging guest', () => {
    const w = 16_384;
    const r0 = { ms: 8000, dirtyPages: dirtied(w, 5000, 8000) };
    const r1 = { ms: r0.dirtyPages * msPerPage, dirtyPages: dirtied(w, 5000, r0.dirtyPages * msPerPage) };
    const p = projectConvergence({ rounds: [r0, r1], msPerPage, fixedMs: 5, limitMs: 50, roundsLeft: 28 });
    expect(p.fits).toBe(true);
    expect(p.rounds).toBe(1);
    expect(p.bestMs).toBeLessThan(50);
  });
  it('says no for a guest whose floor is above the limit, with the floor', () => {
    const w = 65_536;
    const r0 = { ms: 8000, dirtyPages: dirtied(w, 50_000, 8000) };
    const r1 = { ms: r0.dirtyPages * msPerPage, dirtyPages: dirtied(w, 50_000, r0.dirtyPages * msPerPage) };
    const p = projectConvergence({ rounds: [r0, r1], msPerPage, fixedMs: 5, limitMs: 300, roundsLeft: 28 });
    expect(p.fits).toBe(false);
    // The floor: a round leaves as many pages as it sent, ~36k pages here.
    expect(p.bestMs).toBeGreaterThan(1000);
  });
  it('says no when the rounds left are too few, and yes at once when the last round fits', () => {
    const rounds = [
      { ms: 4000, dirtyPages: 40_000 },
      { ms: 2000, dirtyPages: 20_000 },
    ];
    expect(projectConvergence({ rounds, msPerPage: 0.05, fixedMs: 5, limitMs: 50, roundsLeft: 1 }).fits).toBe(false);
    expect(projectConvergence({ rounds, msPerPage: 0.05, fixedMs: 5, limitMs: 50, roundsLeft: 20 }).fits).toBe(true);
    expect(projectConvergence({ rounds, msPerPage: 0.001, fixedMs: 5, limitMs: 50, roundsLeft: 0 })).toMatchObject({
      fits: true,
      rounds: 0,
    });
  });
});
