import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { onTestFinished } from 'vitest';
import { describe, expect, it } from 'vitest';
import { ErrorCode, MigrationDestination, MigrationError, ProtocolError, probe, UsageError } from '../../src/index.ts';
import { guestMemory, listenSink, MiB, sourceHost } from '../harness/index.ts';

/** A loopback port nobody listens on: bound by the OS, then closed again. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

/** A TCP server on loopback that greets every connection with `banner` and keeps it open. */
async function bannerServer(banner: string): Promise<number> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    s.on('error', () => {});
    s.write(banner);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  onTestFinished(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return (server.address() as net.AddressInfo).port;
}

/** Resolves with the reason of the destination's next `rejected` event. */
function nextRejection(d: Awaited<ReturnType<typeof listenSink>>): Promise<{ code: string; reason: string }> {
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      const e = d.events.find((x) => x.type === 'rejected');
      if (e?.type === 'rejected') {
        clearInterval(poll);
        resolve({ code: e.code, reason: e.reason });
      }
    }, 10);
  });
}

const plane = { loadDeviceState: () => {}, resume: () => {} };

describe('connecting to a destination that is not there', () => {
  it('fails migrate() with FERRY_CONNECT_FAILED naming host:port and the system error, and never pauses the guest', async () => {
    const port = await closedPort();
    const source = await sourceHost({ memory: MiB });
    const err = await source.migrateTo(port).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MigrationError);
    expect(err).toMatchObject({ code: ErrorCode.CONNECT_FAILED, cause: { code: 'ECONNREFUSED' } });
    expect((err as Error).message).toMatch(new RegExp(`^cannot connect to 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    expect(source.plane.calls).not.toContain('pause');
  });

  it('fails probe() the same way', async () => {
    const port = await closedPort();
    const err = await probe({ host: '127.0.0.1', port, layout: guestMemory(MiB).layout }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.CONNECT_FAILED, cause: { code: 'ECONNREFUSED' } });
  });
});

describe('listening where it cannot', () => {
  it('fails a second listener on the same port with FERRY_ADDRESS_IN_USE naming the address', async () => {
    const first = await MigrationDestination.listen({ controlPlane: plane });
    onTestFinished(() => first.close());
    const err = await MigrationDestination.listen({ controlPlane: plane, port: first.port }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect(err).toMatchObject({ code: ErrorCode.ADDRESS_IN_USE, cause: { code: 'EADDRINUSE' } });
    expect((err as Error).message).toBe(`cannot listen on 127.0.0.1:${first.port}: the address is in use (EADDRINUSE)`);
  });

  it.skipIf(readFileSync('/proc/sys/net/ipv4/ip_nonlocal_bind', 'utf8').trim() !== '0')(
    "fails on an address that is not this host's with FERRY_ADDRESS_IN_USE (binding sends nothing)",
    async () => {
      // 192.0.2.1 is TEST-NET-1: no host of ours has it; bind() fails locally without a packet.
      const err = await MigrationDestination.listen({ controlPlane: plane, host: '192.0.2.1', insecure: true }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: ErrorCode.ADDRESS_IN_USE, cause: { code: 'EADDRNOTAVAIL' } });
      expect((err as Error).message).toMatch(/^cannot listen on 192\.0\.2\.1:0: the address is not this host's/);
    },
  );
});

describe('a peer that does not speak Ferry', () => {
  it('is rejected by the destination as not Ferry when it sends an HTTP request', async () => {
    const d = await listenSink();
    const rejected = nextRejection(d);
    const request = http.get({ host: '127.0.0.1', port: d.port, path: '/' });
    request.on('error', () => {});
    const { code, reason } = await rejected;
    request.destroy();
    expect(code).toBe(ErrorCode.UNKNOWN_MESSAGE);
    expect(reason).toMatch(
      /^the peer does not speak Ferry: its first bytes are "GET \/ HTTP\/1\.1\\r\\n[^"]*" \(47 45 54 20 2f 20 48 54 54 50 2f 31 2e 31 0d 0a\): an HTTP request$/,
    );
    // And it goes on listening for the real source.
    await expect(probe({ host: '127.0.0.1', port: d.port, layout: guestMemory(MiB).layout })).resolves.toMatchObject({ accepted: true });
  });

  it('is rejected by the destination as not Ferry when it starts a TLS handshake', async () => {
    const d = await listenSink();
    const rejected = nextRejection(d);
    const client = tls.connect({ host: '127.0.0.1', port: d.port, rejectUnauthorized: false });
    client.on('error', () => {});
    const { code, reason } = await rejected;
    client.destroy();
    expect(code).toBe(ErrorCode.UNKNOWN_MESSAGE);
    expect(reason).toMatch(
      /^the peer does not speak Ferry: its first bytes are "\\x16\\x03.*: a TLS handshake \(is tls given to one side only\?\)$/,
    );
  });

  it('fails migrate() as not Ferry when the destination greets with something else', async () => {
    const port = await bannerServer('SSH-2.0-OpenSSH_9.6\r\n');
    const source = await sourceHost({ memory: MiB });
    const err = await source.migrateTo(port, { handshakeTimeoutMs: 5000 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProtocolError);
    expect(err).toMatchObject({ code: ErrorCode.UNKNOWN_MESSAGE });
    expect((err as Error).message).toBe(
      'the peer does not speak Ferry: its first bytes are "SSH-2.0-OpenSSH_" (53 53 48 2d 32 2e 30 2d 4f 70 65 6e 53 53 48 5f)',
    );
    expect(source.plane.calls).not.toContain('pause');
  });
});
