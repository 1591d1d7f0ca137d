import { describe, expect, it } from 'vitest';
import { defaultPolicy, policies, predictDowntimeMs, type RoundFigures, stalled } from '../../src/index.ts';

const base: RoundFigures = {
  roundsSent: 1,
  elapsedMs: 1000,
  dirtyPages: 5000,
  dirtyHistory: [5000],
  dirtyPagesPerSec: 10_000,
  bandwidthBytesPerSec: 1e9,
  bytesPerPage: 4116,
  predictedDowntimeMs: 500,
  throttlePercent: 0,
};

describe('downtime prediction', () => {
  it('is dirty bytes over bandwidth plus the measured fixed cost', () => {
    expect(predictDowntimeMs({ dirtyPages: 1000, bytesPerPage: 4116, bandwidthBytesPerSec: 411_600_000, fixedCostMs: 7 })).toBeCloseTo(
      17,
      9,
    );
  });
  it('is unbounded until a bandwidth has been measured', () => {
    expect(predictDowntimeMs({ dirtyPages: 1, bytesPerPage: 4116, bandwidthBytesPerSec: 0, fixedCostMs: 0 })).toBe(
      Number.POSITIVE_INFINITY,
    );
  });
});

describe('the default switchover policy', () => {
  const policy = defaultPolicy(100, 30);
  it('switches over as soon as the prediction fits the limit', () => {
    expect(policy({ ...base, predictedDowntimeMs: 100 })).toEqual({ action: 'switchover', reason: 'converged' });
  });
  it('keeps iterating while the dirty set shrinks', () => {
    expect(policy({ ...base, roundsSent: 5, dirtyHistory: [9000, 8000, 7000, 6000, 5000] })).toEqual({ action: 'continue' });
  });
  it('stops when nothing is dirty even if the fixed cost alone exceeds the limit', () => {
    expect(policy({ ...base, predictedDowntimeMs: 150, dirtyPages: 0, dirtyHistory: [10, 0] })).toMatchObject({ reason: 'nothing-left' });
  });
  it('detects a stall: no new low for three syncs in a row', () => {
    expect(policy({ ...base, roundsSent: 4, dirtyHistory: [5000, 5100, 5050, 5000] })).toMatchObject({ reason: 'no-progress' });
    expect(policy({ ...base, roundsSent: 4, dirtyHistory: [5000, 5100, 5050, 4999] })).toEqual({ action: 'continue' });
  });
  it('stops at the round budget', () => {
    expect(policy({ ...base, roundsSent: 30, dirtyHistory: [900, 800] })).toMatchObject({ reason: 'max-rounds' });
  });
});

describe('built-in policies', () => {
  it('raise a stepped downtime limit with time, as Nova does', () => {
    const p = policies.steppedDowntime({ startMs: 50, stepMs: 50, everyMs: 1000, maxMs: 300 });
    expect(p({ ...base, elapsedMs: 500, predictedDowntimeMs: 80 }).action).toBe('continue');
    expect(p({ ...base, elapsedMs: 1500, predictedDowntimeMs: 80 }).action).toBe('switchover');
    expect(p({ ...base, elapsedMs: 60_000, predictedDowntimeMs: 301 }).action).toBe('continue');
  });
  it('throttle in growing steps while stalled (auto-converge), then hand over to the next policy', () => {
    const p = policies.autoConverge({ initial: 20, increment: 10, max: 40, rounds: 2 });
    const stalledRound = { ...base, dirtyHistory: [5000, 5100, 5200] };
    expect(p(stalledRound)).toMatchObject({ action: 'throttle', percent: 20 });
    expect(p({ ...stalledRound, throttlePercent: 20 })).toMatchObject({ action: 'throttle', percent: 30 });
    expect(p({ ...stalledRound, throttlePercent: 35 })).toMatchObject({ action: 'throttle', percent: 40 });
    expect(p({ ...stalledRound, throttlePercent: 40 })).toEqual({ action: 'continue' });
    expect(p({ ...base, dirtyHistory: [5000, 4000, 3000] })).toEqual({ action: 'continue' });
  });
  it('spend a total-time budget with the chosen outcome', () => {
    expect(policies.maxTotalTime(10_000, 'abort')({ ...base, elapsedMs: 10_000 })).toEqual({ action: 'abort', reason: 'max-total-time' });
  });
  it('compose: the first that does not continue decides', () => {
    const p = policies.firstOf(policies.downtimeLimit(10), policies.maxRounds(3, 'abort'));
    expect(p({ ...base, roundsSent: 3 })).toEqual({ action: 'abort', reason: 'max-rounds' });
    expect(p({ ...base, roundsSent: 3, predictedDowntimeMs: 5 })).toMatchObject({ action: 'switchover' });
  });
  it('count a stall only after enough syncs', () => {
    expect(stalled([5, 5, 5], 3)).toBe(false);
    expect(stalled([5, 5, 5, 5], 3)).toBe(true);
  });
});

describe('outrun', () => {
  it('switches to post-copy once the dirty rate in bytes reaches the bandwidth, not before the second round', () => {
    const outrun = policies.outrun();
    const fast = { ...base, roundsSent: 2, dirtyPagesPerSec: 250_000, bandwidthBytesPerSec: 1e9 }; // 1.03 GB/s of writes
    expect(outrun(fast)).toEqual({ action: 'postcopy', reason: 'outrun' });
    expect(outrun({ ...fast, roundsSent: 1 })).toEqual({ action: 'continue' });
    expect(outrun({ ...fast, dirtyPagesPerSec: 200_000 })).toEqual({ action: 'continue' }); // 0.82 GB/s
    expect(policies.outrun('abort', 0.5)({ ...fast, dirtyPagesPerSec: 200_000 })).toEqual({ action: 'abort', reason: 'outrun' });
  });
});

describe('wontConverge', () => {
  const p = policies.wontConverge(100, 10);
  it('acts when the dirty set stops shrinking, or shrinks too slowly for the rounds left', () => {
    // 10% smaller per round from 20k pages predicted at 1 s: ~22 more rounds to reach 100 ms.
    expect(p({ ...base, roundsSent: 3, dirtyPages: 18_000, dirtyHistory: [20_000, 18_000], predictedDowntimeMs: 1000 })).toEqual({
      action: 'postcopy',
      reason: 'wont-converge',
    });
    expect(p({ ...base, roundsSent: 3, dirtyPages: 20_000, dirtyHistory: [20_000, 20_000], predictedDowntimeMs: 1000 }).action).toBe(
      'postcopy',
    );
  });
  it('waits while halving each round will get there in time, and when the prediction already fits', () => {
    // Halving: 1000 ms -> 100 ms in about 4 rounds, 3 + 4 <= 10.
    expect(p({ ...base, roundsSent: 3, dirtyPages: 10_000, dirtyHistory: [20_000, 10_000], predictedDowntimeMs: 1000 }).action).toBe(
      'continue',
    );
    expect(p({ ...base, roundsSent: 3, dirtyPages: 10_000, dirtyHistory: [10_000, 10_000], predictedDowntimeMs: 90 }).action).toBe(
      'continue',
    );
    expect(p({ ...base, roundsSent: 1, dirtyHistory: [5000] }).action).toBe('continue');
  });
});
