import { type ChildProcess, fork } from 'node:child_process';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  encodeFrame,
  FerryError,
  GuestMemory,
  Intent,
  MessageType,
  messages as msg,
  MigrationDestination,
  type MigrationEvent,
  migrate,
  probe,
  WriteBarrierTracker,
} from '../../src/index.ts';
import { WriterGuest } from '../../src/testing/index.ts';
import { listenSink } from '../helpers.ts';

const MiB = 1024 * 1024;
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function startGuest(
  sizeBytes = 64 * MiB,
  pagesPerSec = 50_000,
): Promise<{ memory: GuestMemory; tracker: WriteBarrierTracker; guest: WriterGuest }> {
  const memory = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes }] });
  const tracker = new WriteBarrierTracker(memory.layout);
  const guest = new WriterGuest(memory, tracker, { pagesPerSec, workingSetFraction: 0.5 });
  cleanups.push(() => guest.stop());
  await guest.ready;
  return { memory, tracker, guest };
}

async function startDestinationProcess(): Promise<{ child: ChildProcess; port: number; messages: { type: string }[] }> {
  const child = fork(new URL('../fixtures/destination-process.ts', import.meta.url), { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  cleanups.push(() => child.kill('SIGKILL'));
  const messages: { type: string }[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    child.on('message', (m: { type: string; port?: number }) => {
      messages.push(m);
      if (m.type === 'listening') resolve(m.port!);
    });
    child.once('exit', (code) => reject(new Error(`destination exited early with ${code}`)));
  });
  return { child, port, messages };
}

/** Asserts the guest is running on the source (not paused, still writing) and its memory is whole. */
async function expectGuestRunning(guest: WriterGuest): Promise<void> {
  expect(guest.paused).toBe(false);
  const before = guest.writes;
  await new Promise((r) => setTimeout(r, 100));
  expect(guest.writes).toBeGreaterThan(before);
  // Check pages with the guest parked, so no page is read mid-write.
  await guest.pause();
  expect(guest.tornPages()).toEqual([]);
  guest.resume();
}

describe('a failed migration leaves the source guest running and intact', () => {
  it('when the destination process is killed during pre-copy', async () => {
    const { memory, tracker, guest } = await startGuest();
    const { child, port } = await startDestinationProcess();
    const plane = guest.controlPlane();
    const events: MigrationEvent[] = [];
    const result = migrate({
      host: '127.0.0.1',
      port,
      memory,
      tracker,
      controlPlane: plane,
      maxDowntimeMs: 0.001, // never converges: keeps iterating until the kill
      maxRounds: 10_000,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'round-end' && e.stats.round === 2) child.kill('SIGKILL');
      },
    });
    const err = await result.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    expect((err as FerryError).code).toMatch(/FERRY_CONNECTION_LOST|FERRY_PEER_FAILED/);
    expect(events.some((e) => e.type === 'failed' && e.guestResumed)).toBe(true);
    expect(plane.released).toBe(false);
    await expectGuestRunning(guest);
  });

  it('when the destination process is killed while the guest is paused', async () => {
    const { memory, tracker, guest } = await startGuest();
    const { child, port } = await startDestinationProcess();
    const plane = guest.controlPlane();
    let pausedSeen = false;
    const err = await migrate({
      host: '127.0.0.1',
      port,
      memory,
      tracker,
      controlPlane: {
        ...plane,
        pause: async () => {
          await plane.pause();
          pausedSeen = true;
          child.kill('SIGKILL');
          await new Promise((r) => child.once('exit', r));
        },
      },
    }).catch((e: unknown) => e);
    expect(pausedSeen).toBe(true);
    expect(err).toBeInstanceOf(FerryError);
    await expectGuestRunning(guest);
  });

  it('when the destination process stops responding: an idle timeout, not a hang', async () => {
    const { memory, tracker, guest } = await startGuest();
    const { child, port } = await startDestinationProcess();
    cleanups.push(() => child.kill('SIGCONT'));
    const err = await migrate({
      host: '127.0.0.1',
      port,
      memory,
      tracker,
      controlPlane: guest.controlPlane(),
      maxDowntimeMs: 0.001,
      maxRounds: 10_000,
      idleTimeoutMs: 500,
      onEvent: (e) => {
        if (e.type === 'round-end' && e.stats.round === 1) child.kill('SIGSTOP');
      },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FERRY_TIMEOUT' });
    await expectGuestRunning(guest);
  });

  it('when the migration is cancelled, and the destination learns why', async () => {
    const { memory, tracker, guest } = await startGuest();
    const destination = await listenSink();
    const abort = new AbortController();
    const err = await migrate({
      host: '127.0.0.1',
      port: destination.port,
      memory,
      tracker,
      controlPlane: guest.controlPlane(),
      maxDowntimeMs: 0.001,
      maxRounds: 10_000,
      signal: abort.signal,
      onEvent: (e) => {
        if (e.type === 'round-end' && e.stats.round === 1) abort.abort();
      },
    }).catch((e: unknown) => e);
    expect((err as FerryError).code).toBe('FERRY_ABORTED');
    const destErr = await destination.result.catch((e: unknown) => e);
    expect((destErr as FerryError).code).toMatch(/FERRY_ABORTED|FERRY_CONNECTION_LOST/);
    await expectGuestRunning(guest);
  });

  it('when a byte is corrupted on the wire: the destination refuses the page and says so', async () => {
    const { memory, tracker, guest } = await startGuest(16 * MiB, 5_000);
    const destination = await listenSink();
    // A man in the middle that flips one bit deep inside the page stream.
    let forwarded = 0;
    const mitm = net.createServer((client) => {
      const upstream = net.connect(destination.port, '127.0.0.1');
      client.on('data', (chunk: Buffer) => {
        const flipAt = 2 * MiB - forwarded;
        if (flipAt >= 0 && flipAt < chunk.byteLength) chunk[flipAt]! ^= 0x10;
        forwarded += chunk.byteLength;
        upstream.write(chunk);
      });
      upstream.pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((r) => mitm.listen(0, '127.0.0.1', r));
    cleanups.push(() => mitm.close());
    // Give the guest a few MiB of non-zero pages so the stream is long enough to corrupt.
    await new Promise((r) => setTimeout(r, 1000));
    const err = await migrate({
      host: '127.0.0.1',
      port: (mitm.address() as net.AddressInfo).port,
      memory,
      tracker,
      controlPlane: guest.controlPlane(),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    const destErr = (await destination.result.catch((e: unknown) => e)) as FerryError;
    expect(destErr.code).toMatch(
      /FERRY_CHECKSUM_MISMATCH|FERRY_FRAME_MALFORMED|FERRY_PAGE_OUT_OF_RANGE|FERRY_UNKNOWN_MESSAGE|FERRY_FRAME_TOO_LARGE/,
    );
    // The source hears the destination's own reason on the return path.
    expect(err).toMatchObject({ name: 'PeerError', code: 'FERRY_PEER_FAILED', remoteCode: destErr.code });
    await expectGuestRunning(guest);
  });
});

describe('the destination refuses before any page moves', () => {
  it('a page size it does not run, with a typed error on the source', async () => {
    const memory = GuestMemory.create({ pageSize: 16384, regions: [{ name: 'ram0', sizeBytes: 4 * MiB }] });
    let allocated = false;
    const destination = await MigrationDestination.listen({
      pageSizes: [4096],
      controlPlane: {
        allocate: (layout) => {
          allocated = true;
          return GuestMemory.fromLayout(layout);
        },
        loadDeviceState: () => {},
        resume: () => {},
      },
    });
    cleanups.push(() => destination.close());
    let paused = false;
    const err = await migrate({
      host: '127.0.0.1',
      port: destination.port,
      memory,
      tracker: new WriteBarrierTracker(memory.layout),
      controlPlane: {
        pause: () => {
          paused = true;
        },
        resume: () => {},
        saveDeviceState: () => new Uint8Array(0),
      },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'HandshakeError', code: 'FERRY_INCOMPATIBLE_GUEST' });
    expect((err as Error).message).toMatch(/page size 16384/);
    expect(allocated).toBe(false);
    expect(paused).toBe(false);
  });

  it('a protocol version it does not speak, answered with HELLO_REJECT', async () => {
    const destination = await listenSink();
    cleanups.push(() => destination.close());
    const hello = encodeFrame(MessageType.HELLO, msg.hello, {
      versionMin: 3,
      versionMax: 4,
      intent: Intent.MIGRATE,
      sessionId: new Uint8Array(16),
      pageSize: 4096,
      features: 0,
      guestId: 'future',
      regions: [{ name: 'ram0', sizeBytes: MiB }],
    });
    const reply = await rawExchange(destination.port, hello);
    expect(reply[4]).toBe(MessageType.HELLO_REJECT);
    const report = msg.errorReport.decode(new (await import('../../src/protocol/cursor.ts')).Cursor(reply.subarray(8)));
    expect(report.code).toBe('FERRY_VERSION_UNSUPPORTED');
  });

  it('a stranger sending garbage, and it still takes a real migration afterwards', async () => {
    const events: string[] = [];
    const destination = await listenSink({
      onEvent: (e) => {
        if (e.type === 'rejected') events.push(e.code);
      },
    });
    const junkReply = await rawExchange(destination.port, Buffer.from('GET / HTTP/1.1\r\nHost: ferry\r\n\r\n'));
    expect(junkReply[4]).toBe(MessageType.HELLO_REJECT);
    const hugeReply = await rawExchange(destination.port, Buffer.from([0xff, 0xff, 0xff, 0x7f, 0x01, 0, 0, 0]));
    expect(hugeReply[4]).toBe(MessageType.HELLO_REJECT);
    expect(events).toEqual(['FERRY_UNKNOWN_MESSAGE', 'FERRY_FRAME_TOO_LARGE']);

    const memory = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 4 * MiB }] });
    memory.region(0).bytes.fill(7, 0, MiB);
    const report = await migrate({
      host: '127.0.0.1',
      port: destination.port,
      memory,
      tracker: new WriteBarrierTracker(memory.layout),
      controlPlane: { pause: () => {}, resume: () => {}, saveDeviceState: () => new Uint8Array(3) },
    });
    const incoming = await destination.result;
    expect(report.digest).toBe(incoming.digest);
    expect(Buffer.compare(incoming.memory.region(0).bytes, memory.region(0).bytes)).toBe(0);
  });

  it('a source that talks to something that is not a Ferry destination fails cleanly', async () => {
    const fake = net.createServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    cleanups.push(() => fake.close());
    const memory = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: MiB }] });
    let resumed = false;
    const err = await migrate({
      host: '127.0.0.1',
      port: (fake.address() as net.AddressInfo).port,
      memory,
      tracker: new WriteBarrierTracker(memory.layout),
      controlPlane: {
        pause: () => {},
        resume: () => {
          resumed = true;
        },
        saveDeviceState: () => new Uint8Array(0),
      },
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ProtocolError' });
    expect(resumed).toBe(false); // never paused, so nothing to resume
  });
});

describe('one migration at a time', () => {
  it('takes exactly one of two sources that arrive together and refuses the other as busy', async () => {
    const destination = await MigrationDestination.listen({
      controlPlane: {
        // A slow admission check widens the window in which both could slip through.
        admit: () => new Promise<undefined>((r) => setTimeout(() => r(undefined), 50)),
        loadDeviceState: () => {},
        resume: () => {},
      },
    });
    const go = (): Promise<unknown> => {
      const memory = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: MiB }] });
      return migrate({
        host: '127.0.0.1',
        port: destination.port,
        memory,
        tracker: new WriteBarrierTracker(memory.layout),
        controlPlane: { pause: () => {}, resume: () => {}, saveDeviceState: () => new Uint8Array(0) },
      }).then(
        (r) => r,
        (e: unknown) => e,
      );
    };
    const results = await Promise.all([go(), go()]);
    const failed = results.filter((r) => r instanceof FerryError) as FerryError[];
    expect(failed.length).toBe(1);
    expect(failed[0]).toMatchObject({ code: 'FERRY_REJECTED' });
    await expect(destination.result).resolves.toMatchObject({ pagesReceived: 0 });
  });
});

describe('probe', () => {
  it('reports acceptance, and a control plane veto with its reason, without allocating', async () => {
    let allocations = 0;
    const destination = await MigrationDestination.listen({
      maxGuestBytes: 64 * MiB,
      controlPlane: {
        admit: (g) => (g.guestId === 'banned' ? 'guest is on the deny list' : undefined),
        allocate: (layout) => {
          allocations++;
          return GuestMemory.fromLayout(layout);
        },
        loadDeviceState: () => {},
        resume: () => {},
      },
    });
    cleanups.push(() => destination.close());
    const layout = { pageSize: 4096, regions: [{ name: 'ram0', sizeBytes: 32 * MiB }] };
    await expect(probe({ host: '127.0.0.1', port: destination.port, layout })).resolves.toMatchObject({ accepted: true, version: 2 });
    await expect(probe({ host: '127.0.0.1', port: destination.port, layout, guestId: 'banned' })).resolves.toEqual({
      accepted: false,
      code: 'FERRY_REJECTED',
      reason: 'guest is on the deny list',
    });
    const big = { pageSize: 4096, regions: [{ name: 'ram0', sizeBytes: 128 * MiB }] };
    await expect(probe({ host: '127.0.0.1', port: destination.port, layout: big })).resolves.toMatchObject({
      accepted: false,
      code: 'FERRY_INCOMPATIBLE_GUEST',
    });
    expect(allocations).toBe(0);
  });
});

/** Sends `bytes` on a fresh connection and returns everything the peer sends before closing. */
function rawExchange(port: number, bytes: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    s.on('data', (c) => chunks.push(c));
    s.on('close', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
    setTimeout(() => {
      s.destroy();
      reject(new Error('peer did not close'));
    }, 5000).unref();
  });
}
