import { describe, expect, it } from 'vitest';
import { Pacer } from '../../src/transport/pacer.ts';

function fakeClock(): { nowMs(): number; advance(ms: number): void } {
  let t = 0;
  return { nowMs: () => t, advance: (ms) => (t += ms) };
}

describe('Pacer', () => {
  it('lets a burst through, then spaces bytes at the rate', () => {
    const clock = fakeClock();
    const p = new Pacer(1_000_000, { burstBytes: 100_000, clock });
    expect(p.reserve(100_000)).toBe(0);
    expect(p.reserve(50_000)).toBeCloseTo(50, 9); // 50 kB at 1 MB/s
    clock.advance(50);
    expect(p.reserve(10_000)).toBeCloseTo(10, 9);
  });

  it('takes back what a batch reserved and did not send, never above the burst', () => {
    const clock = fakeClock();
    const p = new Pacer(1_000_000, { burstBytes: 100_000, clock });
    expect(p.reserve(150_000)).toBeCloseTo(50, 9);
    p.refund(140_000); // the batch was 10 kB of zero-page entries
    expect(p.available()).toBe(90_000);
    p.refund(1_000_000);
    expect(p.available()).toBe(100_000);
  });

  it('refills no further than the burst after an idle gap', () => {
    const clock = fakeClock();
    const p = new Pacer(1_000_000, { burstBytes: 10_000, clock });
    clock.advance(10_000);
    expect(p.reserve(10_000)).toBe(0);
    expect(p.reserve(1_000)).toBeCloseTo(1, 9);
  });

  it('changes rate mid-stream and treats 0 as unlimited', () => {
    const clock = fakeClock();
    const p = new Pacer(1_000_000, { burstBytes: 0, clock });
    expect(p.reserve(1_000)).toBeCloseTo(1, 9);
    p.setRate(0);
    expect(p.reserve(1e12)).toBe(0);
    p.setRate(2_000_000);
    clock.advance(1);
    expect(p.reserve(2_000)).toBeCloseTo(1, 9);
  });
});
