import { describe, expect, it } from 'vitest';
import { predictDowntime, SwitchoverHistory, switchoverCosts } from '../../src/index.ts';

describe('the switchover history', () => {
  const at = (totalMs: number, transferMs = 0) => ({ totalMs, transferMs });

  it('corrects nothing until it has seen enough switchovers, then adds the median miss', () => {
    const h = new SwitchoverHistory({ minSamples: 3 });
    h.record(at(10), 11);
    h.record(at(20), 21.5);
    expect(h.correctionMs(0)).toBe(0);
    h.record(at(30), 30.8);
    expect(h.samples).toBe(3);
    expect(h.correctionMs(0)).toBeCloseTo(1, 9);
    h.record(at(5), 105); // one outlier moves a median little
    expect(h.correctionMs(0)).toBeCloseTo(1.25, 9);
  });

  it('learns a fixed miss and a steady share of the transfer, robust to one disturbed switchover', () => {
    // The model's rate is 20% optimistic and it misses 1 ms of fixed cost: measured = 1.2 transfer + fixed + 1.
    const h = new SwitchoverHistory();
    for (const transfer of [0, 5, 10, 20, 40, 80]) h.record(at(transfer + 2, transfer), 1.2 * transfer + 2 + 1);
    h.record(at(12, 10), 40); // a switchover the host disturbed
    expect(h.correctionMs(0)).toBeCloseTo(1, 1);
    expect(h.correctionMs(50)).toBeCloseTo(11, 0);
  });

  it('survives a round trip through JSON, the way a control plane keeps it between processes', () => {
    const h = new SwitchoverHistory({ size: 4, minSamples: 2 });
    for (const transfer of [0, 10, 20]) h.record(at(transfer + 2, transfer), transfer + 5);
    const back = SwitchoverHistory.fromJSON(JSON.parse(JSON.stringify(h)));
    expect(back.samples).toBe(3);
    expect(back.correctionMs(15)).toBe(h.correctionMs(15));
    const junk = SwitchoverHistory.fromJSON({
      size: 2,
      minSamples: 1,
      misses: [
        { transferMs: 1, missMs: Number.NaN },
        { transferMs: 1, missMs: 3 },
      ],
    });
    expect(junk.samples).toBe(1);
  });

  it('forgets the oldest beyond its size, and ignores unknown figures', () => {
    const h = new SwitchoverHistory({ size: 2, minSamples: 1 });
    h.record(at(0), 10);
    h.record(at(0), 2);
    h.record(at(0), 4);
    h.record(at(Number.POSITIVE_INFINITY), 4);
    expect(h.samples).toBe(2);
    expect(h.correctionMs(0)).toBe(3);
    expect(h.correctionMs(Number.POSITIVE_INFINITY)).toBe(0); // no bandwidth measured yet
  });

  it('enters the prediction as a part of its own, and never makes the fixed part negative', () => {
    const base = { syncMs: 0, digestMs: 0, rttMs: 0.2, deviceStateBytes: 0, bandwidthBytesPerSec: 1e9 };
    const plain = predictDowntime({ dirtyPages: 0, bytesPerPage: 4116, bandwidthBytesPerSec: 1e9, costs: switchoverCosts(base) });
    const learnt = predictDowntime({
      dirtyPages: 0,
      bytesPerPage: 4116,
      bandwidthBytesPerSec: 1e9,
      costs: switchoverCosts({ ...base, learnedMs: 1.5 }),
    });
    expect(learnt.fixedMs - plain.fixedMs).toBeCloseTo(1.5, 9);
    expect(learnt.inputs.costs!.learnedMs).toBe(1.5);
    const over = predictDowntime({
      dirtyPages: 0,
      bytesPerPage: 4116,
      bandwidthBytesPerSec: 1e9,
      costs: switchoverCosts({ ...base, learnedMs: -50 }),
    });
    expect(over.fixedMs).toBe(0);
  });
});
