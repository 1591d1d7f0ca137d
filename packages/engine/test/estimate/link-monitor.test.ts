import { describe, expect, it } from 'vitest';
import { LinkMonitor, LinkRateEstimator } from '../../src/index.ts';
import { LinkMeter } from '../../src/estimate/link-meter.ts';
import { rateWithoutWaits } from '../../src/util/run-delay.ts';

const MiB = 2 ** 20;
const MiBps = MiB; // 1 MiB/s, in bytes per second

/** Small windows, so a few batches of 256 pages (1 MiB raw) fill them. */
function monitor(): LinkMonitor {
  return new LinkMonitor({ windows: { windowBytes: 2 * MiB, smoothing: 0.5 }, rawWindowPages: 512, remeasureEvery: 2 });
}

describe('the link monitor', () => {
  it('gives every reader its figure from one made-up sequence of batches and rounds', () => {
    const m = monitor();
    let flushed = 0;
    const batch = (nowMs: number, wireBytes: number, compressed: boolean, capBytesPerSec: number): void => {
      flushed += wireBytes;
      m.batch({ pages: 256, wireBytes, compressed, flushedBytes: flushed, capBytesPerSec }, nowMs);
    };
    expect(m.capBytesPerSec).toBe(Number.POSITIVE_INFINITY);
    expect(m.codecBytesPerSec).toBe(Number.POSITIVE_INFINITY);
    expect(m.policyBandwidthBytesPerSec(Number.POSITIVE_INFINITY)).toBe(0);

    // Round 1, uncapped: a burst into empty buffers (1 MiB every 2 ms), then 1 MiB every 10 ms.
    for (const t of [0, 2, 4, 14, 24, 34, 44]) batch(t, MiB, false, Number.POSITIVE_INFINITY);
    // Windows of 2 MiB: 0-4 ms is the first burst, left out; 4-24 and 24-44 ms run at 100 MiB/s.
    expect(m.windowsMeasured).toBe(2);
    expect(m.windowBytesPerSec).toBeCloseTo(100 * MiBps, 0);
    // Raw windows of 512 pages keep the burst (500 MiB/s), decaying by 0.9 per slower window.
    expect(m.rawLinkBytesPerSec).toBeCloseTo(500 * MiBps * 0.9 * 0.9, 0);
    expect(m.codecBytesPerSec).toBeCloseTo(405 * MiBps, 0);
    m.idle();
    m.roundEnded({ flushedBytes: 7 * MiB, durationMs: 50, waitedMs: 10, capBytesPerSec: Number.POSITIVE_INFINITY });
    expect(m.bandwidthBytesPerSec).toBeCloseTo(140 * MiBps, 0);
    expect(m.peakBandwidthBytesPerSec).toBeCloseTo(140 * MiBps, 0);
    expect(m.uncontendedBandwidthBytesPerSec).toBeCloseTo(175 * MiBps, 0); // 7 MiB over 50 - 10 ms
    // The policies get the windows' rate, under the cap of the moment.
    expect(m.policyBandwidthBytesPerSec(Number.POSITIVE_INFINITY)).toBeCloseTo(100 * MiBps, 0);
    expect(m.policyBandwidthBytesPerSec(80 * MiBps)).toBe(80 * MiBps);

    // Round 2, a second later, capped at 120 MiB/s: eight LZ4 batches of 256 KiB every 5 ms.
    for (let i = 0; i < 8; i++) batch(1000 + 5 * i, MiB / 4, true, 120 * MiBps);
    // The gap started new windows; 2 MiB never went through one, and compressed windows say nothing of the raw rate.
    expect(m.windowsMeasured).toBe(2);
    expect(m.rawLinkBytesPerSec).toBeCloseTo(405 * MiBps, 0);
    expect(m.forceRaw).toBe(true); // two compressed windows in a row: the next must re-measure
    expect(m.capBytesPerSec).toBe(120 * MiBps);
    expect(m.codecBytesPerSec).toBe(120 * MiBps);
    m.idle();
    m.roundEnded({ flushedBytes: 2 * MiB, durationMs: 40, waitedMs: Number.NaN, capBytesPerSec: 120 * MiBps });
    expect(m.bandwidthBytesPerSec).toBeCloseTo(50 * MiBps, 0);
    expect(m.peakBandwidthBytesPerSec).toBeCloseTo(140 * MiBps, 0);
    expect(m.uncontendedBandwidthBytesPerSec).toBeCloseTo(175 * MiBps, 0); // no schedstat: kept

    // A round of exactly 1 MiB says nothing; a fast one is held to the cap.
    m.roundEnded({ flushedBytes: MiB, durationMs: 1, waitedMs: 0, capBytesPerSec: 120 * MiBps });
    expect(m.bandwidthBytesPerSec).toBeCloseTo(50 * MiBps, 0);
    m.roundEnded({ flushedBytes: 4 * MiB, durationMs: 20, waitedMs: 0, capBytesPerSec: 120 * MiBps });
    expect(m.bandwidthBytesPerSec).toBe(120 * MiBps);
    expect(m.uncontendedBandwidthBytesPerSec).toBe(120 * MiBps);
    expect(m.peakBandwidthBytesPerSec).toBeCloseTo(140 * MiBps, 0);
  });

  it('drops the window of continuous sending on a new connection, and keeps the raw window', () => {
    const m = monitor();
    m.batch({ pages: 256, wireBytes: MiB, compressed: false, flushedBytes: MiB, capBytesPerSec: Number.POSITIVE_INFINITY }, 0);
    m.batch({ pages: 256, wireBytes: MiB, compressed: false, flushedBytes: 2 * MiB, capBytesPerSec: Number.POSITIVE_INFINITY }, 10);
    m.newConnection(); // a second's outage
    m.batch({ pages: 256, wireBytes: MiB, compressed: false, flushedBytes: 3 * MiB, capBytesPerSec: Number.POSITIVE_INFINITY }, 1010);
    expect(m.windowsMeasured).toBe(0);
    expect(m.rawLinkBytesPerSec).toBeCloseTo((2 * MiB) / 1.01, 0);
  });

  it('gives the figures of the three estimators it replaced, on any sequence', () => {
    let seed = 7;
    const random = (): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const m = new LinkMonitor();
    const windows = new LinkRateEstimator();
    const meter = new LinkMeter();
    let bandwidth = 0;
    let peak = 0;
    let uncontended = 0;
    let now = 0;
    let flushed = 0;
    let roundFlushed = 0;
    let roundStart = 0;
    for (let step = 0; step < 5000; step++) {
      const r = random();
      const cap = r < 0.5 ? Number.POSITIVE_INFINITY : 50e6 + 100e6 * random();
      if (r < 0.97) {
        const pages = 1 + Math.floor(256 * random());
        const compressed = random() < 0.3;
        const wireBytes = pages * (compressed ? 1500 : 4096);
        now += (wireBytes / (20e6 + 200e6 * random())) * 1000;
        flushed += wireBytes;
        roundFlushed += wireBytes;
        m.batch({ pages, wireBytes, compressed, flushedBytes: flushed, capBytesPerSec: cap }, now);
        meter.delivered(pages, wireBytes, compressed, now);
        windows.observe(flushed, now);
      } else if (r < 0.985) {
        m.newConnection();
        windows.idle();
        now += 1000 * random();
      } else {
        m.idle();
        meter.idle();
        windows.idle();
        const durationMs = Math.max(now - roundStart, 0.001);
        const waitedMs = random() < 0.2 ? Number.NaN : durationMs * random();
        m.roundEnded({ flushedBytes: roundFlushed, durationMs, waitedMs, capBytesPerSec: cap });
        if (roundFlushed > MiB) {
          bandwidth = Math.min(cap, (roundFlushed / durationMs) * 1000);
          peak = Math.max(peak, bandwidth);
          const u = rateWithoutWaits(roundFlushed, durationMs, waitedMs);
          if (Number.isFinite(u)) uncontended = Math.min(cap, u);
        }
        now += 100 * random();
        roundStart = now;
        roundFlushed = 0;
      }
      expect(m.rawLinkBytesPerSec).toBe(meter.rawLinkBytesPerSec);
      expect(m.forceRaw).toBe(meter.forceRaw);
      expect(m.windowsMeasured).toBe(windows.windows);
      expect(m.windowBytesPerSec).toBe(windows.smoothedBytesPerSec);
      expect(m.bandwidthBytesPerSec).toBe(bandwidth);
      expect(m.peakBandwidthBytesPerSec).toBe(peak);
      expect(m.uncontendedBandwidthBytesPerSec).toBe(uncontended);
    }
    expect(windows.windows).toBeGreaterThan(10);
    expect(meter.rawLinkBytesPerSec).toBeGreaterThan(0);
    expect(peak).toBeGreaterThan(0);
  });
});
