import net from 'node:net';
import { describe, expect, it } from 'vitest';
import { ErrorCode, MessageType, TcpTransport } from '../../src/index.ts';
import { decode, encode, Msg } from '../../src/protocol/registry.ts';
import { MiB, sourceHost } from '../harness/index.ts';

/**
 * A destination that takes the pages without keeping them and, at COMPLETE, answers READY with
 * whatever digest COMPLETE carried: one that would make a source release a guest nobody holds.
 */
async function echoingDestination() {
  let sawDigest: bigint | undefined;
  const server = net.createServer((socket) => {
    const t = new TcpTransport(socket, 1 << 24);
    t.onFrame((f) => {
      if (f.type === MessageType.HELLO) {
        void t.send(encode(Msg.HELLO_ACCEPT, { version: 3, maxFrameBodyBytes: 1 << 24 }));
        t.setFrameChecks('required');
      } else if (f.type === MessageType.ROUND_END) {
        const end = decode(Msg.ROUND_END, f);
        t.write(encode(Msg.ROUND_ACK, { round: end.round, pages: end.pages, bytesReceived: 0 }));
      } else if (f.type === MessageType.ECHO) {
        t.write(encode(Msg.ECHO_REPLY, decode(Msg.ECHO, f)));
      } else if (f.type === MessageType.COMPLETE) {
        sawDigest = decode(Msg.COMPLETE, f).digest;
        t.write(encode(Msg.READY, { digest: sawDigest }));
      } else if (f.type === MessageType.COMMIT) {
        t.write(encode(Msg.RESUMED, { resumeMicros: 0, verifyMicros: 0 }));
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as net.AddressInfo).port,
    sawDigest: () => sawDigest,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('a destination that echoes the digest', () => {
  it('cannot make the source release its guest: from version 3 the source withholds its digest and checks the destination’s own', async () => {
    const d = await echoingDestination();
    const source = await sourceHost({ memory: 2 * MiB, fill: 'pattern' });
    const error = await source.migrateTo(d.port).catch((e: unknown) => e);
    await d.close();
    expect(d.sawDigest()).toBe(0n);
    expect(error).toMatchObject({ code: ErrorCode.DIGEST_MISMATCH });
    expect(source.plane.calls).toEqual(['pause', 'saveDeviceState', 'resume']);
  });
});
