import { describe, expect, it } from 'vitest';
import { lz4Pays } from '../../src/codec/chooser.ts';
import { LinkMeter } from '../../src/estimate/link-meter.ts';

describe('lz4Pays', () => {
  it('compresses on a slow link when the data compresses', () => {
    expect(lz4Pays({ lz4BytesPerSec: 600e6, lz4Ratio: 0.34, linkBytesPerSec: 125e6 })).toBe(true);
  });
  it('wants a clear win, not a tie', () => {
    // Per byte: 0.5 ns compressing + 0.4 ns sending = 0.9 ns, exactly the margin of 0.9 x 1 ns raw: no.
    expect(lz4Pays({ lz4BytesPerSec: 2e9, lz4Ratio: 0.4, linkBytesPerSec: 1e9 })).toBe(false);
    expect(lz4Pays({ lz4BytesPerSec: 2e9, lz4Ratio: 0.3, linkBytesPerSec: 1e9 })).toBe(true);
  });
  it('does not on a link faster than the compressor can pay for', () => {
    expect(lz4Pays({ lz4BytesPerSec: 600e6, lz4Ratio: 0.34, linkBytesPerSec: 1e9 })).toBe(false);
    expect(lz4Pays({ lz4BytesPerSec: 600e6, lz4Ratio: 0.34, linkBytesPerSec: Number.POSITIVE_INFINITY })).toBe(false);
  });
  it('does not for incompressible data or unmeasured speeds', () => {
    expect(lz4Pays({ lz4BytesPerSec: 600e6, lz4Ratio: 1.01, linkBytesPerSec: 10e6 })).toBe(false);
    expect(lz4Pays({ lz4BytesPerSec: 0, lz4Ratio: 0.3, linkBytesPerSec: 10e6 })).toBe(false);
  });
});

describe('LinkMeter', () => {
  it('measures the link from raw windows only, and forces a raw window to re-measure', () => {
    const m = new LinkMeter(1024, 2);
    let now = 0;
    const batch = (compressed: boolean, msPerBatch: number, bytes = 256 * 4096): void => {
      now += msPerBatch;
      m.delivered(256, bytes, compressed, now);
    };
    m.delivered(0, 0, false, now); // starts the clock
    for (let i = 0; i < 4; i++) batch(false, 8); // 1 MiB per 8 ms
    expect(m.rawLinkBytesPerSec).toBeCloseTo((1024 * 4096) / 0.032, -3);
    const measured = m.rawLinkBytesPerSec;
    for (let i = 0; i < 8; i++) batch(true, 1, 80_000); // two compressed windows: left out
    expect(m.rawLinkBytesPerSec).toBe(measured);
    expect(m.forceRaw).toBe(true);
    for (let i = 0; i < 4; i++) batch(false, 16);
    expect(m.forceRaw).toBe(false);
    expect(m.rawLinkBytesPerSec).toBeLessThan(measured);
  });
});
