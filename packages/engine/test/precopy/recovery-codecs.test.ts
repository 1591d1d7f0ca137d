import { describe, expect, it } from 'vitest';
import { ErrorCode, MessageType } from '../../src/index.ts';
import { findTornPages } from '../../src/testing/index.ts';
import { flipBit, frameProxy } from '../harness/frame-proxy.ts';
import { expectSameMemory, MiB, migrationPair } from '../harness/index.ts';

/**
 * A resumable pre-copy whose connection breaks while delta-encoded pages are in flight: what the
 * destination holds of them is unknown, so they go whole after the reconnection (an XBZRLE
 * delta or a DEDUP reference against a copy the destination never got would not decode).
 */
describe('resumable pre-copy with page codecs', () => {
  for (const compression of ['xbzrle', 'adaptive'] as const) {
    it(`${compression}: a break in round 2 is recovered and the guest arrives byte-identical`, async () => {
      const pair = await migrationPair({
        memory: 16 * MiB,
        fill: { content: 'pattern' },
        guest: { pagesPerSec: 5_000, workingSetFraction: 0.05 },
      });
      let flipped = false;
      const proxy = await frameProxy(pair.destination.port, ({ direction, type, bytes }) => {
        // The ROUND_END of round 2 (of 5: not the final one) fails its checksum: the destination
        // drops the connection, with round 2's pages (XBZRLE deltas, DEDUP references) in flight.
        if (flipped || direction !== 'to-destination' || type !== MessageType.ROUND_END || bytes.readUInt32LE(8) !== 2) return 'pass';
        flipped = true;
        return { replace: flipBit(bytes, 12, 1) };
      });
      const report = await pair.migrate({
        port: proxy.port,
        compression,
        precopyRecoveryMs: 5_000,
        maxBandwidth: 60e6,
        policy: (f) => (f.roundsSent >= 5 ? { action: 'switchover', reason: 'five rounds' } : { action: 'continue' }),
      });
      const incoming = await pair.destination.result;
      expect(flipped).toBe(true);
      expect(report.recoveries).toBeGreaterThanOrEqual(1);
      expectSameMemory(incoming.memory, pair.memory);
      expect(findTornPages(incoming.memory)).toEqual([]);
    });
  }

  it('a fault that comes back after every reconnection ends within precopyRecoveryMs, and the guest runs on', async () => {
    const pair = await migrationPair({ memory: 8 * MiB, fill: { content: 'pattern' } });
    const proxy = await frameProxy(pair.destination.port, ({ direction, type, bytes }) =>
      direction === 'to-destination' && type === MessageType.ROUND_END ? { replace: flipBit(bytes, 12, 1) } : 'pass',
    );
    const started = performance.now();
    const error = await pair.migrate({ port: proxy.port, precopyRecoveryMs: 1_500 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.TIMEOUT, message: expect.stringContaining('precopy not recovered within 1500 ms') });
    expect(performance.now() - started).toBeLessThan(20_000);
    expect(pair.plane.calls).toEqual([]);
  });
});
