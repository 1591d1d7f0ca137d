import { describe, expect, it } from 'vitest';
import { LinkRateEstimator, predictDowntime, SWITCHOVER_ROUND_TRIPS, switchoverCostMs, switchoverCosts } from '../../src/index.ts';
import { rateWithoutWaits } from '../../src/util/run-delay.ts';

const MiB = 2 ** 20;

/** Feeds `bytes` at `rate` bytes/s in 256 KiB steps, moving `at` (bytes so far, clock) along. */
function send(e: LinkRateEstimator, at: { bytes: number; ms: number }, bytes: number, rate: number): void {
  const step = 256 * 1024;
  for (let sent = 0; sent < bytes; sent += step) {
    at.bytes += step;
    at.ms += (step / rate) * 1000;
    e.observe(at.bytes, at.ms);
  }
}

describe('the link-rate estimator', () => {
  it('leaves out the first burst and measures the steady rate', () => {
    const e = new LinkRateEstimator({ windowBytes: 4 * MiB });
    const at = { bytes: 0, ms: 0 };
    send(e, at, 4 * MiB, 10e9); // socket buffers filling at memory speed
    send(e, at, 32 * MiB, 100e6);
    expect(e.windows).toBeGreaterThanOrEqual(7);
    expect(e.smoothedBytesPerSec).toBeGreaterThan(99e6);
    expect(e.smoothedBytesPerSec).toBeLessThan(101e6);
  });

  it('does not count idle time between rounds as a slow link', () => {
    const e = new LinkRateEstimator({ windowBytes: 4 * MiB });
    const at = { bytes: 0, ms: 0 };
    send(e, at, 12 * MiB, 100e6);
    e.idle();
    at.ms += 5000; // waiting for an acknowledgement, a policy, a throttle
    send(e, at, 12 * MiB, 100e6);
    expect(e.smoothedBytesPerSec).toBeGreaterThan(99e6);
  });

  it('drops a window cut short by idle(), so a partial window never skews the rate', () => {
    const e = new LinkRateEstimator({ windowBytes: 4 * MiB });
    const at = { bytes: 0, ms: 0 };
    send(e, at, 12 * MiB, 100e6);
    e.idle(); // the window under way (3.75 MiB) is dropped
    const windows = e.windows;
    send(e, at, 2 * MiB, 1e6); // a slow trickle, then the round ends
    e.idle();
    expect(e.windows).toBe(windows);
    expect(e.smoothedBytesPerSec).toBeGreaterThan(99e6);
  });
});

describe('a rate without CPU waits', () => {
  it('takes the waited time out, never crediting more than 3/4 of the time to waiting', () => {
    expect(rateWithoutWaits(100e6, 1000, 500)).toBeCloseTo(200e6, 0); // half the time runnable, not running
    expect(rateWithoutWaits(100e6, 1000, 990)).toBeCloseTo(400e6, 0);
    expect(rateWithoutWaits(100e6, 1000, Number.NaN)).toBeNaN(); // no schedstat here
    expect(rateWithoutWaits(100e6, 1000, -1)).toBeNaN();
  });
});

describe('a downtime prediction', () => {
  it('is the transfer at the link rate (after the burst) plus the fixed costs, each part reported', () => {
    const costs = switchoverCosts({ syncMs: 0.3, digestMs: 4, rttMs: 0.5, deviceStateBytes: 1e6, bandwidthBytesPerSec: 1e9 });
    expect(costs.deviceStateMs).toBeCloseTo(1, 9);
    expect(switchoverCostMs(costs)).toBeCloseTo(costs.pauseMs + 4 + SWITCHOVER_ROUND_TRIPS * 0.5 + 1 + costs.resumeMs, 9);
    const p = predictDowntime({ dirtyPages: 1000, bytesPerPage: 4116, bandwidthBytesPerSec: 411.6e6, burstBytes: 411_600, costs });
    expect(p.transferMs).toBeCloseTo(9, 9);
    expect(p.fixedMs).toBeCloseTo(switchoverCostMs(costs), 9);
    expect(p.totalMs).toBeCloseTo(p.transferMs + p.fixedMs, 9);
    expect(p.inputs.costs).toBe(costs);
  });
});
