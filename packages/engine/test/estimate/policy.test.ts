import { describe, expect, it } from 'vitest';
import { defaultPolicy, hybridPolicy, policies, predictDowntimeMs, type RoundFigures, stalled } from '../../src/index.ts';

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
  roundMsHistory: [1000],
  fixedDowntimeMs: 5,
  msPerPage: 0.1,
};

/** A guest writing `r` pages a second at random over `w` pages: the distinct pages of `ms`. */
const dirtied = (w: number, r: number, ms: number): number => w * -Math.expm1((-r * ms) / 1000 / w);
/** Rounds 0 and 1 of such a guest on a link of `msPerPage`, as the policy sees them after round 1. */
function afterRound1(w: number, r: number, round0Ms: number, msPerPage: number, fixed = 5): RoundFigures {
  const d0 = dirtied(w, r, round0Ms);
  const round1Ms = d0 * msPerPage;
  const d1 = dirtied(w, r, round1Ms);
  return {
    ...base,
    roundsSent: 2,
    dirtyPages: d1,
    dirtyHistory: [d0, d1],
    roundMsHistory: [round0Ms, round1Ms],
    msPerPage,
    fixedDowntimeMs: fixed,
    predictedDowntimeMs: fixed + d1 * msPerPage,
  };
}
// 4116 wire bytes a page at 125 MiB/s.
const CAPPED = (4116 / (125 * 2 ** 20)) * 1000;

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
    expect(policy({ ...base, predictedDowntimeMs: 6, dirtyPages: 0 })).toEqual({ action: 'switchover', reason: 'nothing-left' });
  });
  it('keeps iterating while the dirty set shrinks', () => {
    expect(
      policy({ ...base, roundsSent: 5, dirtyHistory: [9000, 8000, 7000, 6000, 5000], roundMsHistory: [9000, 900, 800, 700, 600] }),
    ).toEqual({
      action: 'continue',
    });
  });
  it('never pauses over the limit: nothing left but a fixed part above it, a stall, the round budget', () => {
    const fixed = { ...base, predictedDowntimeMs: 150, fixedDowntimeMs: 150, dirtyPages: 0, dirtyHistory: [10, 0] };
    expect(policy(fixed).action).toBe('continue');
    expect(policy({ ...base, roundsSent: 4, dirtyHistory: [5000, 5100, 5050, 5000], roundMsHistory: [1, 1, 1, 1] }).action).toBe(
      'continue',
    );
    expect(policy({ ...base, roundsSent: 30, dirtyHistory: [900, 800] })).toMatchObject({
      action: 'abort',
      wontConverge: true,
      reason: expect.stringContaining('max-rounds'),
    });
  });
  it('ends with FERRY_WONT_CONVERGE at its time bound, the guest running until then', () => {
    const bounded = defaultPolicy(50, 30, { convergeTimeoutMs: 20_000 });
    const hot = afterRound1(65_536, 50_000, 8000, CAPPED);
    expect(bounded({ ...hot, elapsedMs: 19_000 }).action).toBe('continue');
    expect(bounded({ ...hot, elapsedMs: 20_000 })).toMatchObject({
      action: 'abort',
      wontConverge: true,
      reason: expect.stringContaining('converge-timeout'),
    });
  });
  it('throttles through the hook first, then does what onWontConverge says', () => {
    const hot = afterRound1(65_536, 50_000, 8000, CAPPED);
    const throttling = defaultPolicy(50, 30, { throttle: true, onWontConverge: 'switchover' });
    expect(throttling(hot)).toMatchObject({ action: 'throttle', percent: 20, reason: 'wont-converge' });
    expect(throttling({ ...hot, throttlePercent: 90 })).toMatchObject({ action: 'throttle', percent: 99 });
    expect(throttling({ ...hot, throttlePercent: 99 })).toEqual({ action: 'switchover', reason: 'wont-converge' });
    expect(defaultPolicy(50, 30, { onWontConverge: 'switchover' })(hot)).toEqual({ action: 'switchover', reason: 'wont-converge' });
  });
});

describe('hybrid', () => {
  it('goes to post-copy after round 1 when the write model says no round can fit', () => {
    const p = hybridPolicy(300, 30);
    // Hot 256 MiB at 50k pages/s over 125 MiB/s: the set only falls to ~40k pages (over a second).
    expect(p(afterRound1(65_536, 50_000, 8000, CAPPED))).toEqual({ action: 'postcopy', reason: 'wont-converge' });
  });
  it('keeps pre-copying a guest that will fit within the rounds', () => {
    const p = hybridPolicy(50, 30);
    // Hot 64 MiB at 5k pages/s: about 2400 pages after round 1, then ~370 (12 ms).
    expect(p(afterRound1(16_384, 5_000, 8000, CAPPED)).action).toBe('continue');
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
  it('acts once the fitted model says no round within the budget fits', () => {
    expect(p(afterRound1(65_536, 50_000, 8000, CAPPED))).toEqual({ action: 'postcopy', reason: 'wont-converge' });
    expect(p({ ...base, fixedDowntimeMs: 120, predictedDowntimeMs: 200 })).toEqual({ action: 'postcopy', reason: 'fixed-above-limit' });
  });
  it('waits while the rounds will get there, with one sync only, and when the prediction already fits', () => {
    expect(p(afterRound1(16_384, 5_000, 8000, CAPPED)).action).toBe('continue');
    expect(p({ ...base, roundsSent: 1, dirtyHistory: [5000] }).action).toBe('continue');
    expect(p({ ...base, predictedDowntimeMs: 90 }).action).toBe('continue');
  });
});
