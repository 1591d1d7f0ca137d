import { describe, expect, it } from 'vitest';
import { ErrorCode, MessageType, PROTOCOL_VERSION, probe } from '../../src/index.ts';
import { listenSink, MiB, sourceHost } from '../harness/index.ts';
import { flipBit, frameProxy } from '../harness/frame-proxy.ts';

/** Protocol version 3: every frame after HELLO_ACCEPT is CHECKED (docs/protocol.md §2.1). */
describe('frame checksums', () => {
  it('are negotiated from version 3 on and carried by every frame after HELLO_ACCEPT, in both directions', async () => {
    const destination = await listenSink();
    const seen: { direction: string; type: number; flags: number }[] = [];
    const proxy = await frameProxy(destination.port, ({ direction, type, bytes }) => {
      seen.push({ direction, type, flags: bytes[5]! });
      return 'pass';
    });
    const source = await sourceHost({ memory: 2 * MiB, fill: 'pattern' });
    await source.migrateTo(proxy.port);
    const accept = seen.findIndex((f) => f.type === MessageType.HELLO_ACCEPT);
    expect(accept).toBeGreaterThan(0);
    expect(seen.slice(0, accept + 1).every((f) => f.flags === 0)).toBe(true);
    const after = seen.slice(accept + 1);
    expect(after.length).toBeGreaterThan(5);
    expect(after.every((f) => f.flags === 1)).toBe(true);
    expect(new Set(after.map((f) => f.direction))).toEqual(new Set(['to-destination', 'to-source']));
    await expect(probe({ host: '127.0.0.1', port: (await listenSink()).port, layout: source.memory.layout })).resolves.toMatchObject({
      version: PROTOCOL_VERSION,
    });
  });

  for (const strategy of ['precopy', 'postcopy'] as const) {
    it(`${strategy}: a bit flipped in DEVICE_STATE is caught before the state is loaded; the guest runs on at the source`, async () => {
      const destination = await listenSink();
      let flipped = false;
      const proxy = await frameProxy(destination.port, ({ direction, type, bytes }) => {
        if (direction !== 'to-destination' || type !== MessageType.DEVICE_STATE || flipped) return 'pass';
        flipped = true;
        return { replace: flipBit(bytes, bytes.byteLength - 10, 5) };
      });
      const source = await sourceHost({ memory: 2 * MiB, fill: 'pattern', deviceState: new Uint8Array(4096).fill(0x5a) });
      const error = await source.migrateTo(proxy.port, { strategy }).catch((e: unknown) => e);
      expect(flipped).toBe(true);
      expect(error).toMatchObject({ code: ErrorCode.PEER_FAILED, remoteCode: ErrorCode.CHECKSUM_MISMATCH });
      expect(source.plane.calls).toEqual(['pause', 'saveDeviceState', 'resume']);
      await expect(destination.result).rejects.toMatchObject({ code: ErrorCode.CHECKSUM_MISMATCH });
      expect(destination.plane.count('loadDeviceState')).toBe(0);
      expect(destination.plane.count('resume')).toBe(0);
    });
  }

  it('a bit flipped in a ROUND_ACK is caught by the source, which fails clean, or recovers with precopyRecoveryMs', async () => {
    for (const recover of [false, true]) {
      const destination = await listenSink({ recoveryTimeoutMs: 5_000 });
      let flipped = false;
      const proxy = await frameProxy(destination.port, ({ direction, type, bytes }) => {
        if (direction !== 'to-source' || type !== MessageType.ROUND_ACK || flipped) return 'pass';
        flipped = true;
        return { replace: flipBit(bytes, 9, 0) }; // the round number's lowest bit
      });
      const source = await sourceHost({ memory: 2 * MiB, fill: 'pattern' });
      const outcome = await source.migrateTo(proxy.port, recover ? { precopyRecoveryMs: 5_000 } : {}).catch((e: unknown) => e);
      expect(flipped).toBe(true);
      if (recover) {
        expect(outcome).toMatchObject({ outcome: 'completed', recoveries: 1 });
      } else {
        expect(outcome).toMatchObject({ code: ErrorCode.CHECKSUM_MISMATCH });
        expect(source.plane.calls).toEqual([]);
        await expect(destination.result).rejects.toBeDefined();
      }
    }
  });
});
