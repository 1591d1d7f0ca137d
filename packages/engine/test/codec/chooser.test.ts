import { describe, expect, it } from 'vitest';
import { CompressionGovernor, lz4Pays } from '../../src/codec/chooser.ts';

describe('lz4Pays', () => {
  it('compresses on a slow link when the data compresses', () => {
    expect(lz4Pays({ lz4BytesPerSec: 600e6, lz4Ratio: 0.34, linkBytesPerSec: 125e6 })).toBe(true);
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

describe('CompressionGovernor', () => {
  function run(g: CompressionGovernor, pages: number, msPerPage: number, t: { now: number }): void {
    for (let i = 0; i < pages; i += 256) {
      t.now += 256 * msPerPage;
      g.delivered(256, 256 * 4096, t.now);
    }
  }

  it('warms up, tries raw then LZ4, and keeps LZ4 only when it delivers clearly faster', () => {
    const t = { now: 0 };
    const g = new CompressionGovernor(1024, 2);
    g.delivered(0, 0, 0); // starts the clock
    expect(g.choice).toBe('model'); // nothing measured: the cost model decides
    run(g, 1024, 0.01, t); // warm-up
    expect(g.choice).toBe('raw');
    run(g, 1024, 0.01, t); // try raw
    expect(g.choice).toBe('lz4');
    run(g, 1024, 0.005, t); // try LZ4: twice as fast
    expect(g.choice).toBe('lz4');
    expect(g.lz4Wins).toBe(1);
    run(g, 2048, 0.005, t); // exploit
    run(g, 1024, 0.01, t); // try raw again
    run(g, 1024, 0.0095, t); // LZ4 only 5% faster: not enough
    expect(g.choice).toBe('raw');
    expect(g.rawWins).toBe(1);
    // Raw windows measured the link: 4096 bytes per 0.01 ms page.
    expect(g.rawLinkBytesPerSec).toBeGreaterThan(3e8);
  });
});
