import { describe, expect, it } from 'vitest';
import { ErrorCode, MessageType } from '../../src/index.ts';
import { expectSameMemory, listenSink, MiB, sourceHost } from '../harness/index.ts';
import { flipBit, frameProxy } from '../harness/frame-proxy.ts';
import { sealFrame } from '../../src/protocol/frame-check.ts';
import { encode, Msg } from '../../src/protocol/registry.ts';

/**
 * Faults while the guest's state is split between the hosts (post-copy, after COMMIT) go
 * through recovery; faults around COMMIT end with both sides agreeing who runs the guest.
 */
describe('faults while the guest is split between the hosts', () => {
  async function postcopyThrough(hook: Parameters<typeof frameProxy>[1]) {
    const destination = await listenSink({ recoveryTimeoutMs: 10_000 });
    const proxy = await frameProxy(destination.port, hook);
    const source = await sourceHost({ memory: 4 * MiB, fill: 'pattern' });
    const report = await source
      .migrateTo(proxy.port, { strategy: 'postcopy', recoveryTimeoutMs: 10_000, maxBandwidth: 40e6 })
      .catch((e: unknown) => e);
    const incoming = await destination.result.catch((e: unknown) => e);
    return { source, report, incoming, proxy };
  }

  it('recovers a bit flipped in a post-copy page and ends byte for byte', async () => {
    let flipped = false;
    let entered = false;
    const { source, report, incoming } = await postcopyThrough(({ direction, type, bytes }) => {
      if (direction === 'to-destination' && type === MessageType.POSTCOPY_ENTER) entered = true;
      if (!entered || flipped || direction !== 'to-destination' || type !== MessageType.PAGES || bytes.byteLength < 9000) return 'pass';
      flipped = true;
      return { replace: flipBit(bytes, bytes.byteLength - 100, 3) };
    });
    expect(flipped).toBe(true);
    expect(report).toMatchObject({ outcome: 'completed', postcopy: { recoveries: 1 } });
    expect(incoming).toMatchObject({ postcopy: { recoveries: 1 } });
    expectSameMemory((incoming as { memory: typeof source.memory }).memory, source.memory);
  });

  it('recovers a truncated COMPLETE', async () => {
    let done = false;
    const { report, incoming } = await postcopyThrough(({ direction, type, bytes }) => {
      if (done || direction !== 'to-destination' || type !== MessageType.COMPLETE) return 'pass';
      done = true;
      const cut = Buffer.from(bytes.subarray(0, bytes.byteLength - 4));
      cut.writeUInt32LE(cut.byteLength - 8, 0);
      return { replace: cut };
    });
    expect(done).toBe(true);
    expect(report).toMatchObject({ outcome: 'completed' });
    expect(incoming).toMatchObject({ postcopy: { recoveries: 1 } });
  });

  it('asks again when POSTCOPY_DONE arrives corrupted, and completes: the destination holds the whole guest', async () => {
    let flipped = false;
    const { report, incoming } = await postcopyThrough(({ direction, type, bytes }) => {
      if (flipped || direction !== 'to-source' || type !== MessageType.POSTCOPY_DONE) return 'pass';
      flipped = true;
      return { replace: flipBit(bytes, 10, 2) };
    });
    expect(flipped).toBe(true);
    expect(report).toMatchObject({ outcome: 'completed', postcopy: { recoveries: 1 } });
    expect(incoming).toMatchObject({ postcopy: { recoveries: 0 } });
  });

  it('asks again when POSTCOPY_DONE never arrives on a connection that stays open, and completes', async () => {
    const destination = await listenSink({ recoveryTimeoutMs: 10_000 });
    let dropped = false;
    const proxy = await frameProxy(destination.port, ({ direction, type }) => {
      if (dropped || direction !== 'to-source' || type !== MessageType.POSTCOPY_DONE) return 'pass';
      dropped = true;
      return { replace: new Uint8Array(0) };
    });
    const source = await sourceHost({ memory: 4 * MiB, fill: 'pattern' });
    const report = await source.migrateTo(proxy.port, { strategy: 'postcopy', recoveryTimeoutMs: 10_000, idleTimeoutMs: 1_500 });
    expect(dropped).toBe(true);
    expect(report).toMatchObject({ outcome: 'completed', postcopy: { recoveries: 1 } });
    expectSameMemory((await destination.result).memory, source.memory);
  });

  it('recovers a connection lost while the push is under way, and gives the digest of every page', async () => {
    // A PAGE_REQUEST past the guest, slipped in behind RESUMED: the source drops the connection
    // while pages are still to go, reconnects, and must not give a digest taken before they went.
    let slipped = false;
    const { report, incoming } = await postcopyThrough(({ direction, type, bytes }) => {
      if (slipped || direction !== 'to-source' || type !== MessageType.RESUMED) return 'pass';
      slipped = true;
      const request = encode(Msg.PAGE_REQUEST, { region: 0, page: 1 << 30, count: 1 });
      return { replace: Buffer.concat([bytes, request, sealFrame(request)]) };
    });
    expect(slipped).toBe(true);
    expect(report).toMatchObject({ outcome: 'completed', postcopy: { recoveries: 1 } });
    expect(incoming).toMatchObject({ postcopy: { recoveries: 1 } });
  });

  it('completes when POSTCOPY_DONE is held back for a second', async () => {
    const { report, incoming } = await postcopyThrough(({ direction, type }) =>
      direction === 'to-source' && type === MessageType.POSTCOPY_DONE ? { delayMs: 1000 } : 'pass',
    );
    expect(report).toMatchObject({ outcome: 'completed', postcopy: { recoveries: 0 } });
    expect(incoming).toMatchObject({ postcopy: { recoveries: 0 } });
  });
});

describe('a connection lost as COMMIT crosses', () => {
  for (const strategy of ['precopy', 'postcopy'] as const) {
    it(`${strategy}: the destination never got it, says so when the source asks, and the guest runs on at the source`, async () => {
      const destination = await listenSink({ recoveryTimeoutMs: 10_000 });
      const proxy = await frameProxy(destination.port, ({ direction, type }) =>
        direction === 'to-destination' && type === MessageType.COMMIT ? 'cut' : 'pass',
      );
      const source = await sourceHost({ memory: 2 * MiB, fill: 'pattern' });
      const error = await source.migrateTo(proxy.port, { strategy, recoveryTimeoutMs: 10_000 }).catch((e: unknown) => e);
      expect(error).toMatchObject({ code: ErrorCode.NOT_COMMITTED });
      expect(source.plane.calls).toEqual(['pause', 'saveDeviceState', 'resume']);
      await expect(destination.result).rejects.toMatchObject({ code: ErrorCode.NOT_COMMITTED });
      expect(destination.plane.count('resume')).toBe(0);
    });
  }

  it('precopy: lost with RESUMED on its way, the outcome stays unknown and the source guest stays paused', async () => {
    const destination = await listenSink({ recoveryTimeoutMs: 10_000 });
    const proxy = await frameProxy(destination.port, ({ direction, type }) =>
      direction === 'to-source' && type === MessageType.RESUMED ? 'cut' : 'pass',
    );
    const source = await sourceHost({ memory: 2 * MiB, fill: 'pattern' });
    const error = await source.migrateTo(proxy.port, { recoveryTimeoutMs: 10_000 }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: ErrorCode.OUTCOME_UNKNOWN });
    expect(source.plane.calls).toEqual(['pause', 'saveDeviceState']);
    await expect(destination.result).resolves.toMatchObject({ rounds: expect.any(Number) });
  });
});
