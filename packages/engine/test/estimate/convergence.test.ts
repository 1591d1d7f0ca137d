import { describe, expect, it } from 'vitest';
import { predictDowntimeMs, switchoverReason } from '../../src/index.ts';

const base = { roundsSent: 1, maxRounds: 30, maxDowntimeMs: 100, predictedDowntimeMs: 500 };

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

describe('switchover decision', () => {
  it('switches over as soon as the prediction fits the limit', () => {
    expect(switchoverReason({ ...base, predictedDowntimeMs: 100, dirtyHistory: [5000] })).toBe('converged');
  });
  it('keeps iterating while the dirty set shrinks', () => {
    expect(switchoverReason({ ...base, roundsSent: 5, dirtyHistory: [9000, 8000, 7000, 6000, 5000] })).toBeUndefined();
  });
  it('stops when nothing is dirty even if the fixed cost alone exceeds the limit', () => {
    expect(switchoverReason({ ...base, predictedDowntimeMs: 150, dirtyHistory: [10, 0] })).toBe('nothing-left');
  });
  it('detects a stall: no new low for three syncs in a row', () => {
    expect(switchoverReason({ ...base, roundsSent: 4, dirtyHistory: [5000, 5100, 5050, 5000] })).toBe('no-progress');
    expect(switchoverReason({ ...base, roundsSent: 4, dirtyHistory: [5000, 5100, 5050, 4999] })).toBeUndefined();
  });
  it('stops at the round budget', () => {
    expect(switchoverReason({ ...base, roundsSent: 30, dirtyHistory: [900, 800] })).toBe('max-rounds');
  });
});
