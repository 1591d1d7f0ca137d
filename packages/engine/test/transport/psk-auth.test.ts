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
  MigrationDestination,
  migrate,
  probe,
  TcpTransport,
  WriteBarrierTracker,
} from '../../src/index.ts';
import { FRAME_HEADER_BYTES, MAX_HELLO_BODY_BYTES } from '../../src/protocol/limits.ts';
import { Inbox } from '../../src/transport/inbox.ts';
import { authenticateToDestination } from '../../src/transport/psk-auth.ts';

const MiB = 1024 * 1024;
const key = randomBytes(32);
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function destinationWithKey(
  psk: Uint8Array | undefined,
): Promise<{ d: MigrationDestination; allocations: number[]; rejected: string[] }> {
  const allocations: number[] = [];
  const rejected: string[] = [];
  const d = await MigrationDestination.listen({
    ...(psk && { psk }),
    controlPlane: {
      allocate: (layout) => {
        allocations.push(1);
        return GuestMemory.fromLayout(layout);
      },
      loadDeviceState: () => {},
      resume: () => {},
    },
    onEvent: (e) => {
      if (e.type === 'rejected') rejected.push(e.code);
    },
  });
  cleanups.push(() => d.close());
  return { d, allocations, rejected };
}

function smallGuest(): GuestMemory {
  const m = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 4 * MiB }] });
  m.region(0).bytes.fill(3, 0, MiB);
  return m;
}

function plane(): { pause(): void; resume(): void; saveDeviceState(): Uint8Array } {
  return { pause: () => {}, resume: () => {}, saveDeviceState: () => new Uint8Array(4) };
}

describe('pre-shared-key authentication', () => {
  it('lets a source and a destination that share the key migrate', async () => {
    const { d } = await destinationWithKey(key);
    const memory = smallGuest();
    const report = await migrate({
      host: '127.0.0.1',
      port: d.port,
      memory,
      tracker: new WriteBarrierTracker(memory.layout),
      controlPlane: plane(),
      psk: key,
    });
    expect(report.digest).toBe((await d.result).digest);
  });

  it('refuses a source with the wrong key before allocating anything, and the source learns why', async () => {
    const { d, allocations, rejected } = await destinationWithKey(key);
    const memory = smallGuest();
    const err = await migrate({
      host: '127.0.0.1',
      port: d.port,
      memory,
      tracker: new WriteBarrierTracker(memory.layout),
      controlPlane: plane(),
      psk: randomBytes(32),
    }).catch((e: unknown) => e);
    // The source checks the destination's proof first: with different keys it is the one to stop.
    expect(err).toMatchObject({ name: 'HandshakeError', code: 'FERRY_AUTH_FAILED' });
    expect(allocations).toEqual([]);
    await new Promise((r) => setTimeout(r, 50));
    expect(rejected.length).toBe(1);
  });

  it('refuses a source without a key, and a source refuses a destination without one', async () => {
    const { d, allocations } = await destinationWithKey(key);
    const memory = smallGuest();
    const err = await migrate({
      host: '127.0.0.1',
      port: d.port,
      memory,
      tracker: new WriteBarrierTracker(memory.layout),
      controlPlane: plane(),
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FERRY_AUTH_REQUIRED' });
    expect(allocations).toEqual([]);
    const open = await destinationWithKey(undefined);
    const err2 = await migrate({
      host: '127.0.0.1',
      port: open.d.port,
      memory,
      tracker: new WriteBarrierTracker(memory.layout),
      controlPlane: plane(),
      psk: key,
    }).catch((e: unknown) => e);
    expect(err2).toMatchObject({ name: 'HandshakeError', code: 'FERRY_INCOMPATIBLE_GUEST' });
    expect(open.allocations).toEqual([]);
  });

  it('rejects a replayed handshake: a recorded HELLO, nonce and proof fail against a fresh challenge', async () => {
    const { d, allocations, rejected } = await destinationWithKey(key);
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
    const result = await probe({ host: '127.0.0.1', port: (tap.address() as net.AddressInfo).port, layout: smallGuest().layout, psk: key });
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
    expect(rejected).toContain('FERRY_AUTH_FAILED');
    expect(allocations).toEqual([]);
  });

  it('after a valid handshake, refuses an oversized frame with a typed error and no crash', async () => {
    const { d } = await destinationWithKey(key);
    const memory = smallGuest();
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
