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
  type MigrationEvent,
  PROTOCOL_VERSION,
  probe,
} from '../../src/index.ts';
import type { WriterGuest } from '../../src/testing/index.ts';
import {
  expectSameMemory,
  guestMemory,
  listenSink,
  MiB,
  migrationPair,
  rawExchange,
  type SourceHost,
  sourceHost,
} from '../harness/index.ts';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** A guest writing half its memory, 50 000 pages a second unless said otherwise. */
function startGuest(sizeBytes = 64 * MiB, pagesPerSec = 50_000): Promise<SourceHost> {
  return sourceHost({ memory: sizeBytes, guest: { pagesPerSec, workingSetFraction: 0.5 } });
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
    const source = await startGuest();
    const { child, port } = await startDestinationProcess();
    const events: MigrationEvent[] = [];
    const result = source.migrateTo(port, {
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
    expect(source.plane.released).toBe(false);
    await expectGuestRunning(source.guest);
  });

  it('when the destination process is killed while the guest is paused', async () => {
    let guest: WriterGuest | undefined;
    let pausedSeen = false;
    const { child, port } = await startDestinationProcess();
    const source = await sourceHost({
      memory: 64 * MiB,
      guest: { pagesPerSec: 50_000, workingSetFraction: 0.5 },
      controlPlane: {
        pause: async () => {
          await guest!.pause();
          pausedSeen = true;
          child.kill('SIGKILL');
          await new Promise((r) => child.once('exit', r));
        },
      },
    });
    guest = source.guest;
    const err = await source.migrateTo(port).catch((e: unknown) => e);
    expect(pausedSeen).toBe(true);
    expect(err).toBeInstanceOf(FerryError);
    expect(source.plane.calls).toContain('resume');
    await expectGuestRunning(guest);
  });

  it('when the destination process stops responding: an idle timeout, not a hang', async () => {
    const source = await startGuest();
    const { child, port } = await startDestinationProcess();
    cleanups.push(() => child.kill('SIGCONT'));
    const err = await source
      .migrateTo(port, {
        maxDowntimeMs: 0.001,
        maxRounds: 10_000,
        idleTimeoutMs: 500,
        onEvent: (e) => {
          if (e.type === 'round-end' && e.stats.round === 1) child.kill('SIGSTOP');
        },
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FERRY_TIMEOUT' });
    await expectGuestRunning(source.guest);
  });

  it('when the migration is cancelled, and the destination learns why', async () => {
    const source = await startGuest();
    const destination = await listenSink();
    const abort = new AbortController();
    const err = await source
      .migrateTo(destination.port, {
        maxDowntimeMs: 0.001,
        maxRounds: 10_000,
        signal: abort.signal,
        onEvent: (e) => {
          if (e.type === 'round-end' && e.stats.round === 1) abort.abort();
        },
      })
      .catch((e: unknown) => e);
    expect((err as FerryError).code).toBe('FERRY_ABORTED');
    const destErr = await destination.result.catch((e: unknown) => e);
    expect((destErr as FerryError).code).toMatch(/FERRY_ABORTED|FERRY_CONNECTION_LOST/);
    await expectGuestRunning(source.guest);
  });

  it('when a byte is corrupted on the wire: the destination refuses the page and says so', async () => {
    const source = await startGuest(16 * MiB, 5_000);
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
    const err = await source.migrateTo((mitm.address() as net.AddressInfo).port).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FerryError);
    const destErr = (await destination.result.catch((e: unknown) => e)) as FerryError;
    expect(destErr.code).toMatch(
      /FERRY_CHECKSUM_MISMATCH|FERRY_FRAME_MALFORMED|FERRY_PAGE_OUT_OF_RANGE|FERRY_UNKNOWN_MESSAGE|FERRY_FRAME_TOO_LARGE/,
    );
    // The source hears the destination's own reason on the return path.
    expect(err).toMatchObject({ name: 'PeerError', code: 'FERRY_PEER_FAILED', remoteCode: destErr.code });
    await expectGuestRunning(source.guest);
  });
});

describe('the destination refuses before any page moves', () => {
  it('a page size it does not run, with a typed error on the source', async () => {
    const pair = await migrationPair({
      memory: 4 * MiB,
      pageSize: 16384,
      destination: { pageSizes: [4096], controlPlane: { allocate: (layout) => GuestMemory.fromLayout(layout) } },
    });
    const err = await pair.migrate().catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'HandshakeError', code: 'FERRY_INCOMPATIBLE_GUEST' });
    expect((err as Error).message).toMatch(/page size 16384/);
    expect(pair.destination.plane.calls).toEqual([]);
    expect(pair.plane.calls).toEqual([]);
  });

  it('a protocol version it does not speak, answered with HELLO_REJECT', async () => {
    const destination = await listenSink();
    const hello = encodeFrame(MessageType.HELLO, msg.hello, {
      versionMin: PROTOCOL_VERSION + 1,
      versionMax: PROTOCOL_VERSION + 2,
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
    const memory = guestMemory(4 * MiB);
    memory.region(0).bytes.fill(7, 0, MiB);
    const pair = await migrationPair({ memory, deviceState: new Uint8Array(3) });
    const { destination } = pair;
    const junkReply = await rawExchange(destination.port, Buffer.from('GET / HTTP/1.1\r\nHost: ferry\r\n\r\n'));
    expect(junkReply[4]).toBe(MessageType.HELLO_REJECT);
    const hugeReply = await rawExchange(destination.port, Buffer.from([0xff, 0xff, 0xff, 0x7f, 0x01, 0, 0, 0]));
    expect(hugeReply[4]).toBe(MessageType.HELLO_REJECT);
    expect(destination.rejected()).toEqual(['FERRY_UNKNOWN_MESSAGE', 'FERRY_FRAME_TOO_LARGE']);

    const report = await pair.migrate();
    const incoming = await destination.result;
    expect(report.digest).toBe(incoming.digest);
    expectSameMemory(incoming.memory, memory);
    expect(destination.plane.loaded).toEqual([new Uint8Array(3)]);
  });

  it('a source that talks to something that is not a Ferry destination fails cleanly', async () => {
    const fake = net.createServer((s) => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
    await new Promise<void>((r) => fake.listen(0, '127.0.0.1', r));
    cleanups.push(() => fake.close());
    const source = await sourceHost({ memory: MiB });
    const err = await source.migrateTo((fake.address() as net.AddressInfo).port).catch((e: unknown) => e);
    expect(err).toMatchObject({ name: 'ProtocolError' });
    expect(source.plane.calls).toEqual([]); // never paused, so nothing to resume
  });
});

describe('one migration at a time', () => {
  it('takes exactly one of two sources that arrive together and refuses the other as busy', async () => {
    const destination = await listenSink({
      controlPlane: {
        // A slow admission check widens the window in which both could slip through.
        admit: () => new Promise<undefined>((r) => setTimeout(() => r(undefined), 50)),
      },
    });
    const sources = await Promise.all([sourceHost({ memory: MiB }), sourceHost({ memory: MiB })]);
    const results = await Promise.all(sources.map((s) => s.migrateTo(destination.port).catch((e: unknown) => e)));
    const failed = results.filter((r) => r instanceof FerryError) as FerryError[];
    expect(failed.length).toBe(1);
    expect(failed[0]).toMatchObject({ code: 'FERRY_REJECTED' });
    await expect(destination.result).resolves.toMatchObject({ pagesReceived: 0 });
  });
});

describe('probe', () => {
  it('reports acceptance, and a control plane veto with its reason, without allocating', async () => {
    const destination = await listenSink({
      maxGuestBytes: 64 * MiB,
      controlPlane: {
        admit: (g) => (g.guestId === 'banned' ? 'guest is on the deny list' : undefined),
        allocate: (layout) => GuestMemory.fromLayout(layout),
      },
    });
    const layout = { pageSize: 4096, regions: [{ name: 'ram0', sizeBytes: 32 * MiB }] };
    await expect(probe({ host: '127.0.0.1', port: destination.port, layout })).resolves.toMatchObject({
      accepted: true,
      version: PROTOCOL_VERSION,
    });
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
    expect(destination.plane.count('allocate')).toBe(0);
  });
});
