import net from 'node:net';
import { MessageType as M } from '@ferry/engine';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LaunchedSource } from '../src/destination/run.ts';
import { runDestinationRole } from '../src/destination/run.ts';
import { main } from '../src/main.ts';
import { runSourceRole } from '../src/source/run.ts';
import { Conn } from '../src/wire/conn.ts';
import { frame } from '../src/wire/frames.ts';
import {
  acceptBody,
  completeBody,
  deviceStateBody,
  helloBody,
  parseAccept,
  roundAckBody,
  roundEndBody,
  u32Body,
} from '../src/wire/messages.ts';

/**
 * A deliberately non-conforming destination: it accepts anything (bad magic, frames pipelined
 * before its answer), speaks version 1 only, and acknowledges round n as round n + 1.
 */
function sloppyDestination(): net.Server {
  return net.createServer((socket) => {
    const conn = new Conn(socket);
    void (async () => {
      for (;;) {
        const e = await conn.next(10_000);
        if (e.kind !== 'frame') return conn.destroy();
        if (e.type === M.HELLO) await conn.send(M.HELLO_ACCEPT, acceptBody({ version: 1, maxFrameBodyBytes: 16 << 20 }));
        if (e.type === M.ROUND_END) await conn.send(M.ROUND_ACK, roundAckBody(e.body.readUInt32LE(0) + 1, e.body.readUInt32LE(4), 0));
        if (e.type === M.COMPLETE) await conn.send(M.READY, e.body.subarray(0, 8));
        if (e.type === M.COMMIT) await conn.send(M.RESUMED, Buffer.alloc(8));
      }
    })();
  });
}

/** A deliberately non-conforming source: COMPLETE counts the pages it sent, and it commits whatever READY says. */
function sloppySource(port: number): LaunchedSource {
  const exit = (async () => {
    const conn = await Conn.connect('127.0.0.1', port);
    const hello = {
      versionMin: 1,
      versionMax: 3,
      sessionId: Buffer.alloc(16, 1),
      pageSize: 4096,
      features: 0,
      regions: [{ name: 'ram0', sizeBytes: 1 << 20 }],
    };
    await conn.write(frame(M.HELLO, helloBody(hello)));
    const a = await conn.next(5000);
    if (a.kind !== 'frame' || a.type !== M.HELLO_ACCEPT) return { code: 1, output: 'refused' };
    conn.checked = parseAccept(a.body).version >= 3;
    await conn.send(M.ROUND_END, roundEndBody(0, 0));
    await conn.next(5000);
    await conn.send(M.SWITCHOVER, u32Body(1));
    await conn.send(M.ROUND_END, roundEndBody(1, 0));
    await conn.send(M.DEVICE_STATE, deviceStateBody(0, 0, Buffer.alloc(0)));
    await conn.send(M.COMPLETE, completeBody(0n, 0, 1));
    await conn.nextSkipping(5000, [M.ROUND_ACK]);
    await conn.send(M.COMMIT, Buffer.alloc(0));
    await conn.next(5000);
    conn.end();
    return { code: 0, output: 'done' };
  })();
  return { exit, kill() {} };
}

const layout = { pageSize: 4096, regions: [{ name: 'ram0', sizeBytes: 4 * 1024 * 1024 }] };

describe('the kit detects a broken implementation', () => {
  let server: net.Server;
  let port: number;
  beforeAll(async () => {
    server = sloppyDestination();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as net.AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('role source: pipelined frames accepted, a bad magic accepted, a wrong round acknowledged', async () => {
    const { results } = await runSourceRole({
      target: async () => ({ host: '127.0.0.1', port }),
      layout,
      only: ['src-pipelined', 'src-refuse-magic', 'src-happy-v1'],
      replyTimeoutMs: 1000,
    });
    const reason = (id: string): string => {
      const r = results.find((x) => x.id === id)!;
      expect(r.status).toBe('fail');
      return r.reason;
    };
    expect(reason('src-pipelined')).toBe('expected HELLO_REJECT FERRY_UNEXPECTED_MESSAGE, got HELLO_ACCEPT');
    expect(reason('src-refuse-magic')).toBe('expected HELLO_REJECT FERRY_BAD_MAGIC, got HELLO_ACCEPT');
    expect(reason('src-happy-v1')).toMatch(/^expected ROUND_ACK round 0 with 768 pages, got round 1 with 768 pages$/);
  });

  it('the command exits 1 and says why in its JSON', async () => {
    let out = '';
    const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true } };
    const code = await main(['--role', 'source', '--target', `127.0.0.1:${port}`, '--only', 'src-pipelined', '--json'], io);
    expect(code).toBe(1);
    const report = JSON.parse(out) as { implementation: string; summary: { fail: number }; results: { id: string; reason: string }[] };
    expect(report.implementation).toBe(`127.0.0.1:${port}`);
    expect(report.summary.fail).toBe(1);
    expect(report.results[0]!.reason).toContain('got HELLO_ACCEPT');
  });

  it('role destination: a source that commits past a digest mismatch and miscounts COMPLETE.totalPages', async () => {
    const { results } = await runDestinationRole({ port: 0, launcher: sloppySource, only: ['dst-happy', 'dst-digest-mismatch'] });
    const [happy, mismatch] = results;
    expect(happy!.status).toBe('fail');
    expect(happy!.reason).toContain("expected COMPLETE.totalPages = the guest's 256 pages, got 0");
    expect(mismatch!.status).toBe('fail');
    expect(mismatch!.reason).toBe('expected no COMMIT, got COMMIT');
  });
});

describe('the command line', () => {
  it('lists scenarios, refuses bad usage', async () => {
    let out = '';
    const io = { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true } };
    expect(await main(['--role', 'destination', '--list'], io)).toBe(0);
    expect(out).toContain('dst-lying-ack  [RD-4]');
    expect(await main(['--role', 'source'], io)).toBe(2);
    expect(await main(['--role', 'source', '--target', '127.0.0.1:1', '--only', 'nope'], io)).toBe(2);
  });
});
