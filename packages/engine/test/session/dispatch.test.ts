import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { ErrorCode, type Frame, MessageType, migrate, TcpTransport, WriteBarrierTracker } from '../../src/index.ts';
import { decode, encode, Msg } from '../../src/protocol/registry.ts';
import { guestMemory, listenSink, MiB } from '../harness/index.ts';

/** A destination that accepts the HELLO, then sends `after` (pipelined behind HELLO_ACCEPT when asked). */
async function lyingDestination(after: (hello: Frame) => Buffer[], pipelined = false) {
  const server = net.createServer((socket) => {
    const t = new TcpTransport(socket, 1 << 20);
    t.onFrame((f) => {
      if (f.type !== MessageType.HELLO) return;
      const accept = encode(Msg.HELLO_ACCEPT, { version: 2, maxFrameBodyBytes: 1 << 20 });
      const rest = after(f);
      if (pipelined) t.write(Buffer.concat([accept, ...rest]));
      else {
        t.write(accept);
        setTimeout(() => {
          for (const b of rest) if (!t.closed) t.write(b);
        }, 50);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as net.AddressInfo).port, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function migrateTo(port: number) {
  const memory = guestMemory(2 * MiB, { fill: 'pattern' });
  const calls: string[] = [];
  const error = await migrate({
    host: '127.0.0.1',
    port,
    memory,
    tracker: new WriteBarrierTracker(memory.layout),
    handshakeTimeoutMs: 2_000,
    controlPlane: {
      pause: () => void calls.push('pause'),
      resume: () => void calls.push('resume'),
      saveDeviceState: () => new Uint8Array(0),
      release: () => void calls.push('release'),
    },
  }).catch((err: unknown) => err);
  return { error, calls };
}

describe('the source dispatches through SOURCE_TABLE', () => {
  it('ends a migration whose destination sends READY during pre-copy, naming the message and the state; the guest never paused', async () => {
    const d = await lyingDestination(() => [encode(Msg.READY, { digest: 0n })]);
    const { error, calls } = await migrateTo(d.port);
    await d.close();
    expect(error).toMatchObject({ code: ErrorCode.UNEXPECTED_MESSAGE });
    expect((error as Error).message).toMatch(/READY is not allowed in state (precopy|greeting)/);
    expect(calls).toEqual([]);
  });

  it('judges a message pipelined behind HELLO_ACCEPT by the state after it', async () => {
    const d = await lyingDestination(() => [encode(Msg.RESUMED, { resumeMicros: 0, verifyMicros: 0 })], true);
    const { error, calls } = await migrateTo(d.port);
    await d.close();
    expect(error).toMatchObject({ code: ErrorCode.UNEXPECTED_MESSAGE });
    expect((error as Error).message).toMatch(/RESUMED is not allowed in state/);
    expect(calls).toEqual([]);
  });

  it('takes a FAILED as the destination’s own error code', async () => {
    const d = await lyingDestination(() => [encode(Msg.FAILED, { code: ErrorCode.REJECTED, message: 'out of memory' })]);
    const { error } = await migrateTo(d.port);
    await d.close();
    expect(error).toMatchObject({ code: ErrorCode.PEER_FAILED, remoteCode: ErrorCode.REJECTED });
    expect((error as Error).message).toContain('out of memory');
  });
});

describe('the destination dispatches through DESTINATION_TABLE', () => {
  async function drive(frames: Buffer[]) {
    const destination = await listenSink();
    const t = await TcpTransport.connect({ host: '127.0.0.1', port: destination.port, maxBodyBytes: 1 << 20 });
    const replies: Frame[] = [];
    t.onFrame((f) => replies.push({ type: f.type, body: f.body.slice() }));
    t.write(
      encode(Msg.HELLO, {
        versionMin: 1,
        versionMax: 2,
        intent: 1,
        sessionId: new Uint8Array(16).fill(9),
        pageSize: 4096,
        features: 0,
        guestId: 'table',
        regions: [{ name: 'ram0', sizeBytes: MiB }],
      }),
    );
    await new Promise((r) => setTimeout(r, 100));
    for (const f of frames) t.write(f);
    const result = await destination.result.catch((err: unknown) => err);
    await new Promise((r) => setTimeout(r, 100));
    t.destroy();
    const failed = replies.find((f) => f.type === MessageType.FAILED);
    return { result, failed: failed && decode(Msg.FAILED, failed) };
  }

  it('refuses COMMIT while receiving with FERRY_UNEXPECTED_MESSAGE and tells the source in FAILED', async () => {
    const { result, failed } = await drive([encode(Msg.COMMIT, {})]);
    expect(result).toMatchObject({ code: ErrorCode.UNEXPECTED_MESSAGE, message: 'COMMIT is not allowed in state receiving' });
    expect(failed).toEqual({ code: ErrorCode.UNEXPECTED_MESSAGE, message: 'COMMIT is not allowed in state receiving' });
  });

  it('refuses DEVICE_STATE before SWITCHOVER', async () => {
    const { result } = await drive([encode(Msg.DEVICE_STATE, { totalBytes: 1, offset: 0, data: Uint8Array.of(7) })]);
    expect(result).toMatchObject({ code: ErrorCode.UNEXPECTED_MESSAGE, message: 'DEVICE_STATE is not allowed in state receiving' });
  });

  it('refuses a second COMPLETE while it verifies the first', async () => {
    const complete = encode(Msg.COMPLETE, { digest: 1n, totalPages: 256, finalRound: 1 });
    const { result } = await drive([
      encode(Msg.SWITCHOVER, { round: 1 }),
      encode(Msg.DEVICE_STATE, { totalBytes: 0, offset: 0, data: new Uint8Array(0) }),
      Buffer.concat([complete, complete]),
    ]);
    // The first COMPLETE moves to verifying (its digest is wrong, too); the second is refused there or after.
    expect(result).toMatchObject({ code: expect.stringMatching(/FERRY_(UNEXPECTED_MESSAGE|DIGEST_MISMATCH)/) });
  });
});

describe('a destination listener that throws', () => {
  it('cannot fail the migration: events go through the same guard as the source’s', async () => {
    const destination = await listenSink({
      onEvent: (e) => {
        if (e.type === 'round-end' || e.type === 'phase' || e.type === 'resumed') throw new Error('listener bug');
      },
    });
    const memory = guestMemory(4 * MiB, { fill: 'pattern' });
    const report = await migrate({
      host: '127.0.0.1',
      port: destination.port,
      memory,
      tracker: new WriteBarrierTracker(memory.layout),
      controlPlane: { pause: () => {}, resume: () => {}, saveDeviceState: () => new Uint8Array(0) },
    });
    const incoming = await destination.result;
    expect(incoming.digest).toBe(report.digest);
    expect(incoming.rounds).toBeGreaterThan(0);
  });
});
