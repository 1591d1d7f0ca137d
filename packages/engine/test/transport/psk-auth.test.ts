import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { deferred } from '../../src/util/deferred.ts';
import {
  encodeFrame,
  Feature,
  type Frame,
  GuestMemory,
  Intent,
  MessageType,
  messages as msg,
  probe,
  TcpTransport,
} from '../../src/index.ts';
import { FRAME_HEADER_BYTES, MAX_HELLO_BODY_BYTES } from '../../src/protocol/limits.ts';
import { Inbox } from '../../src/transport/inbox.ts';
import { authenticateToDestination } from '../../src/transport/psk-auth.ts';
import { type DestinationHost, guestMemory, listenSink, MiB, type SourceHost, sourceHost } from '../harness/index.ts';

const key = randomBytes(32);
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A destination that takes only sources with `psk` (any source without), allocating its memory itself so we see when. */
function destinationWithKey(psk: Uint8Array | undefined): Promise<DestinationHost> {
  return listenSink({ ...(psk && { psk }), controlPlane: { allocate: (layout) => GuestMemory.fromLayout(layout) } });
}

/** A 4 MiB guest whose first MiB holds data. */
function smallGuest(): Promise<SourceHost> {
  const memory = guestMemory(4 * MiB);
  memory.region(0).bytes.fill(3, 0, MiB);
  return sourceHost({ memory, deviceState: new Uint8Array(4) });
}

describe('pre-shared-key authentication', () => {
  it('lets a source and a destination that share the key migrate', async () => {
    const d = await destinationWithKey(key);
    const report = await (await smallGuest()).migrateTo(d.port, { psk: key });
    expect(report.digest).toBe((await d.result).digest);
  });

  it('refuses a source with the wrong key before allocating anything, and the source learns why', async () => {
    const d = await destinationWithKey(key);
    const err = await (await smallGuest()).migrateTo(d.port, { psk: randomBytes(32) }).catch((e: unknown) => e);
    // The source checks the destination's proof first: with different keys it is the one to stop.
    expect(err).toMatchObject({ name: 'HandshakeError', code: 'FERRY_AUTH_FAILED' });
    expect(d.plane.calls).toEqual([]);
    await new Promise((r) => setTimeout(r, 50));
    expect(d.rejected().length).toBe(1);
  });

  it('refuses a source without a key, and a source refuses a destination without one', async () => {
    const d = await destinationWithKey(key);
    const source = await smallGuest();
    const err = await source.migrateTo(d.port).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FERRY_AUTH_REQUIRED' });
    expect(d.plane.calls).toEqual([]);
    const open = await destinationWithKey(undefined);
    const err2 = await source.migrateTo(open.port, { psk: key }).catch((e: unknown) => e);
    expect(err2).toMatchObject({ name: 'HandshakeError', code: 'FERRY_INCOMPATIBLE_GUEST' });
    expect(open.plane.calls).toEqual([]);
  });

  it('rejects a replayed handshake: a recorded HELLO, nonce and proof fail against a fresh challenge', async () => {
    const d = await destinationWithKey(key);
    // Record what a real, keyed source sends to the destination...
    const recorded: Buffer[] = [];
    const tap = net.createServer((client) => {
      const upstream = net.connect(d.port, '127.0.0.1');
      client.on('data', (c: Buffer) => {
        recorded.push(Buffer.from(c));
        upstream.write(c);
      });
      upstream.pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => tap.listen(0, '127.0.0.1', r));
    cleanups.push(() => tap.close());
    const result = await probe({
      host: '127.0.0.1',
      port: (tap.address() as net.AddressInfo).port,
      layout: (await smallGuest()).memory.layout,
      psk: key,
    });
    expect(result.accepted).toBe(true);
    // ...and replay it byte for byte to the destination.
    const replay = Buffer.concat(recorded);
    const reply = await new Promise<Buffer>((resolve) => {
      const chunks: Buffer[] = [];
      const s = net.connect(d.port, '127.0.0.1', () => s.write(replay));
      s.on('data', (c) => chunks.push(c));
      s.on('close', () => resolve(Buffer.concat(chunks)));
      s.on('error', () => resolve(Buffer.concat(chunks)));
    });
    // The destination answered the replay with a fresh challenge, then refused the stale proof.
    const types: number[] = [];
    for (let at = 0; at + FRAME_HEADER_BYTES <= reply.byteLength; at += FRAME_HEADER_BYTES + reply.readUInt32LE(at))
      types.push(reply[at + 4]!);
    expect(types).toEqual([MessageType.AUTH_CHALLENGE, MessageType.HELLO_REJECT]);
    expect(d.rejected()).toContain('FERRY_AUTH_FAILED');
    expect(d.plane.calls).toEqual([]);
  });

  it('after a valid handshake, refuses an oversized frame with a typed error and no crash', async () => {
    const d = await destinationWithKey(key);
    const { memory } = await smallGuest();
    const transport = await TcpTransport.connect({ host: '127.0.0.1', port: d.port, maxBodyBytes: MAX_HELLO_BODY_BYTES });
    const inbox = new Inbox(transport, () => false);
    const next = (): Promise<Frame> => inbox.next(5000, 'test');
    const sessionId = randomBytes(16);
    const hello = encodeFrame(MessageType.HELLO, msg.hello, {
      versionMin: 1,
      versionMax: 1,
      intent: Intent.MIGRATE,
      sessionId,
      pageSize: 4096,
      features: Feature.PSK_AUTH,
      guestId: 'big-frame',
      regions: memory.layout.regions,
    });
    await transport.send(hello);
    await authenticateToDestination(transport, next, key, sessionId, hello.subarray(FRAME_HEADER_BYTES));
    expect((await next()).type).toBe(MessageType.HELLO_ACCEPT);
    const closed = deferred<string>();
    transport.onClose((e) => closed.resolve(e.code));
    const header = Buffer.alloc(8);
    header.writeUInt32LE(1024 * MiB, 0);
    header[4] = MessageType.PAGES;
    transport.write(header);
    const failed = await next().catch((e: { code: string }) => e.code);
    await expect(d.result).rejects.toMatchObject({ code: 'FERRY_FRAME_TOO_LARGE' });
    expect(typeof failed === 'string' || (failed as Frame).type === MessageType.FAILED).toBe(true);
    transport.destroy();
  });
});
