import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { ErrorCode, type Frame, Intent, type MigrationError, MessageType } from '../../src/index.ts';
import { FrameReader } from '../../src/protocol/frame-reader.ts';
import { FrameDeadline } from '../../src/transport/frame-deadline.ts';
import { MAX_FRAME_BODY_BYTES, MIN_FRAME_RATE_BYTES_PER_SEC } from '../../src/protocol/limits.ts';
import { decode, encode, Msg } from '../../src/protocol/registry.ts';
import { expectSameMemory, listenSink, MiB, migrationPair, sourceHost } from '../harness/index.ts';

/** What the transport allows a frame of `frameBytes` (header included) with a fixed part of `baseMs`. */
const allowedMs = (baseMs: number, frameBytes: number): number => baseMs + (frameBytes / MIN_FRAME_RATE_BYTES_PER_SEC) * 1000;

/** The message a FrameDeadline fails with, in parts. */
const EXPIRED = /^(.+) from \S+ incomplete after (\d+) ms: (\d+) of (\d+) bytes \(allowed (\d+) ms\)$/;

function hello(): Buffer {
  return encode(Msg.HELLO, {
    versionMin: 1,
    versionMax: 2,
    intent: Intent.MIGRATE,
    sessionId: new Uint8Array(16).fill(7),
    pageSize: 4096,
    features: 0,
    guestId: 'trickler',
    regions: [{ name: 'ram0', sizeBytes: MiB }],
  });
}

/**
 * A hand-driven peer on a raw socket: it reads the other side's frames with a FrameReader and
 * writes whatever bytes it is told to, as slowly as it is told to.
 */
class RawPeer {
  readonly frames: Frame[] = [];
  /** performance.now() when the other side ended the stream (or closed it); NaN until then. */
  endedAtMs = Number.NaN;
  readonly ended: Promise<void>;
  private readonly reader = new FrameReader(MAX_FRAME_BODY_BYTES);
  private waiting: (() => void) | undefined;
  private trickle: NodeJS.Timeout | undefined;

  constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      for (const f of this.reader.push(chunk)) this.frames.push({ type: f.type, body: f.body.slice() });
      this.waiting?.();
    });
    socket.on('error', () => {}); // writes after the other side closed: EPIPE, ECONNRESET
    this.ended = new Promise((resolve) => {
      const done = (): void => {
        if (Number.isNaN(this.endedAtMs)) this.endedAtMs = performance.now();
        clearInterval(this.trickle);
        resolve();
      };
      socket.once('end', done);
      socket.once('close', done);
    });
    onTestFinished(() => {
      clearInterval(this.trickle);
      socket.destroy();
    });
  }

  static connect(port: number): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => resolve(new RawPeer(socket)));
      socket.once('error', reject);
    });
  }

  /** Resolves with the first frame of `type` received. */
  async frame(type: MessageType): Promise<Frame> {
    for (;;) {
      const f = this.frames.find((x) => x.type === type);
      if (f) return f;
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
      });
    }
  }

  /**
   * Writes `bytes` one byte every `everyMs`, the first at once; resolves with performance.now()
   * at the first byte. Stops when the other side ends the stream. Returns the bytes sent so far.
   */
  trickleBytes(bytes: Uint8Array, everyMs: number): { startedAtMs: number; sent(): number } {
    let at = 0;
    const next = (): void => {
      if (at >= bytes.byteLength || !Number.isNaN(this.endedAtMs)) {
        clearInterval(this.trickle);
        return;
      }
      this.socket.write(bytes.subarray(at, at + 1));
      at++;
    };
    const startedAtMs = performance.now();
    next();
    this.trickle = setInterval(next, everyMs);
    return { startedAtMs, sent: () => at };
  }
}

describe('a frame that has begun must arrive within FRAME_DEADLINE_MS plus its size at MIN_FRAME_RATE', () => {
  it('cuts a source that trickles a PAGES frame a byte every 100 ms after its HELLO was accepted, with FERRY_TIMEOUT and FAILED as last words', async () => {
    const destination = await listenSink({ frameDeadlineMs: 1000 });
    const peer = await RawPeer.connect(destination.port);
    peer.socket.write(hello());
    await peer.frame(MessageType.HELLO_ACCEPT);

    // One page's worth of PAGES: trickled at 10 bytes/s it would take 7 minutes.
    const pages = encode(Msg.PAGES, new Uint8Array(4096 + 32));
    const bound = allowedMs(1000, pages.byteLength);
    const trickle = peer.trickleBytes(pages, 100);
    const result = await destination.result.catch((err: unknown) => err);
    await peer.ended;

    expect(result).toMatchObject({ code: ErrorCode.TIMEOUT });
    const [, what, elapsed, received, declared, allowed] = EXPIRED.exec((result as Error).message) ?? [];
    expect(what).toBe('PAGES frame');
    expect(Number(declared)).toBe(pages.byteLength);
    expect(Number(allowed)).toBe(Math.round(bound));
    expect(Number(elapsed)).toBeGreaterThanOrEqual(Number(allowed));
    expect(Number(received)).toBeGreaterThan(8);
    expect(Number(received)).toBeLessThanOrEqual(trickle.sent());
    // Cut at the bound, not by the idle timeout (30 s) or the end of the frame (7 minutes).
    expect(peer.endedAtMs - trickle.startedAtMs).toBeGreaterThanOrEqual(bound);
    expect(peer.endedAtMs - trickle.startedAtMs).toBeLessThan(bound + 5_000);
    expect(trickle.sent()).toBeLessThan(pages.byteLength);
    // The source learns why before the connection closes.
    expect(decode(Msg.FAILED, await peer.frame(MessageType.FAILED))).toEqual({
      code: ErrorCode.TIMEOUT,
      message: (result as Error).message,
    });
  });

  it('counts the header: a source that sends 3 bytes of a header and trickles the rest is cut after the fixed part', async () => {
    const destination = await listenSink({ frameDeadlineMs: 1000 });
    const peer = await RawPeer.connect(destination.port);
    peer.socket.write(hello());
    await peer.frame(MessageType.HELLO_ACCEPT);

    const pages = encode(Msg.PAGES, new Uint8Array(4096 + 32));
    const startedAtMs = performance.now();
    peer.socket.write(pages.subarray(0, 3));
    const rest = peer.trickleBytes(pages.subarray(3), 400);
    const result = await destination.result.catch((err: unknown) => err);
    await peer.ended;

    expect(result).toMatchObject({ code: ErrorCode.TIMEOUT });
    const [, what, elapsed, received, declared, allowed] = EXPIRED.exec((result as Error).message) ?? [];
    expect(what).toBe('frame header');
    expect(Number(declared)).toBe(8);
    expect(Number(received)).toBeGreaterThanOrEqual(3);
    expect(Number(received)).toBeLessThan(8);
    expect(Number(allowed)).toBe(Math.round(allowedMs(1000, 8)));
    expect(Number(elapsed)).toBeGreaterThanOrEqual(Number(allowed));
    expect(peer.endedAtMs - startedAtMs).toBeGreaterThanOrEqual(allowedMs(1000, 8));
    expect(3 + rest.sent()).toBeLessThan(8);
  });

  it('cuts a destination that trickles a frame to the source: the migration fails with FERRY_TIMEOUT and ABORT goes as last words', async () => {
    const received: Frame[] = [];
    let trickleStartedAtMs = Number.NaN;
    let trickle: NodeJS.Timeout | undefined;
    // FAILED is welcome in every state; its 200-byte message trickled at 10 bytes/s would take 20 s.
    const failed = encode(Msg.FAILED, { code: ErrorCode.REJECTED, message: 'x'.repeat(200) });
    const server = net.createServer((socket) => {
      const reader = new FrameReader(MAX_FRAME_BODY_BYTES);
      socket.on('error', () => {});
      socket.on('close', () => clearInterval(trickle));
      socket.on('data', (chunk: Buffer) => {
        for (const f of reader.push(chunk)) {
          if (f.type !== MessageType.PAGES) received.push({ type: f.type, body: f.body.slice() });
          if (f.type !== MessageType.HELLO) continue;
          // Version 1: no ECHO exchange; the source starts its first round, then hears this.
          socket.write(encode(Msg.HELLO_ACCEPT, { version: 1, maxFrameBodyBytes: MAX_FRAME_BODY_BYTES }));
          socket.write(failed.subarray(0, 8));
          trickleStartedAtMs = performance.now();
          let at = 8;
          trickle = setInterval(() => {
            if (at < failed.byteLength && socket.writable) socket.write(failed.subarray(at, ++at));
          }, 100);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    onTestFinished(() => {
      clearInterval(trickle);
      server.close();
    });
    const source = await sourceHost({ memory: MiB, fill: 'pattern' });
    const error = await source
      .migrateTo((server.address() as net.AddressInfo).port, { frameDeadlineMs: 1000 })
      .catch((err: unknown) => err);
    const failedAtMs = performance.now();

    expect(error).toMatchObject({ code: ErrorCode.TIMEOUT });
    const [, what, , got, declared, allowed] = EXPIRED.exec((error as Error).message) ?? [];
    expect(what).toBe('FAILED frame');
    expect(Number(declared)).toBe(failed.byteLength);
    expect(Number(got)).toBeLessThan(failed.byteLength);
    expect(Number(allowed)).toBe(Math.round(allowedMs(1000, failed.byteLength)));
    expect(failedAtMs - trickleStartedAtMs).toBeGreaterThanOrEqual(allowedMs(1000, failed.byteLength));
    await new Promise((resolve) => setTimeout(resolve, 100));
    const abort = received.find((f) => f.type === MessageType.ABORT);
    expect(abort && decode(Msg.ABORT, abort)).toEqual({ code: ErrorCode.TIMEOUT, message: (error as Error).message });
  });

  it('lets a normal migration over a paced link (maxBandwidth 2e6, 4 MiB) through, both sides with a 1 s fixed part', async () => {
    const pair = await migrationPair({ memory: 4 * MiB, fill: 'pattern', destination: { frameDeadlineMs: 1000 } });
    const report = await pair.migrate({ maxBandwidth: 2e6, frameDeadlineMs: 1000 });
    const incoming = await pair.destination.result;
    expect(incoming.digest).toBe(report.digest);
    expectSameMemory(incoming.memory, pair.memory);
  });
});

describe('before the HELLO, the handshake timeout', () => {
  it('cuts a peer that trickles its HELLO a byte every 100 ms, though every byte restarts the idle timer', async () => {
    const destination = await listenSink({ handshakeTimeoutMs: 1000 });
    const peer = await RawPeer.connect(destination.port);
    const frame = hello();
    const trickle = peer.trickleBytes(frame, 100);
    await peer.ended;

    expect(peer.endedAtMs - trickle.startedAtMs).toBeGreaterThanOrEqual(1000 - 50);
    expect(trickle.sent()).toBeLessThan(frame.byteLength);
    expect(decode(Msg.HELLO_REJECT, await peer.frame(MessageType.HELLO_REJECT))).toEqual({
      code: ErrorCode.TIMEOUT,
      message: 'HELLO timed out after 1000 ms',
    });
    expect(destination.rejected()).toEqual([ErrorCode.TIMEOUT]);
  });
});

describe('FrameDeadline over a FrameReader', () => {
  /** A reader and its deadline (fixed part `baseMs`); `push` feeds a chunk as the transport does. */
  function deadline(baseMs: number) {
    const reader = new FrameReader(MAX_FRAME_BODY_BYTES);
    let expired: { error: MigrationError; atMs: number } | undefined;
    const d = new FrameDeadline(reader, 'peer', (error) => {
      expired = { error, atMs: performance.now() };
    });
    d.baseMs = baseMs;
    onTestFinished(() => d.stop());
    return {
      push: (chunk: Uint8Array): void => d.track(reader.push(chunk).length > 0),
      expired: () => expired,
    };
  }
  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  it('gives a frame that begins after another its own full allowance, though the first one armed the timer', async () => {
    const t = deadline(300);
    const small = encode(Msg.ECHO, { token: 1n });
    t.push(small.subarray(0, 4)); // arms the timer for ~300 ms from now
    await sleep(100);
    const big = encode(Msg.PAGES, new Uint8Array(32 * 1024)); // allowed 300 ms + ~1 s
    t.push(Buffer.concat([small.subarray(4), big.subarray(0, 100)]));
    const bigStartedAtMs = performance.now();
    await sleep(600); // past the first frame's deadline
    expect(t.expired()).toBeUndefined();
    t.push(big.subarray(100));
    await sleep(1000);
    expect(t.expired()).toBeUndefined();
    expect(performance.now() - bigStartedAtMs).toBeGreaterThan(allowedMs(300, big.byteLength));
  });

  it('moves the timer sooner for a small frame that follows a large one', async () => {
    const t = deadline(300);
    const big = encode(Msg.PAGES, new Uint8Array(256 * 1024)); // allowed 300 ms + 8 s
    t.push(big.subarray(0, 100));
    await sleep(50);
    const small = encode(Msg.ECHO, { token: 1n });
    t.push(Buffer.concat([big.subarray(100), small.subarray(0, 3)]));
    const smallStartedAtMs = performance.now();
    while (!t.expired()) await sleep(20);
    const { error, atMs } = t.expired()!;
    expect(error.code).toBe(ErrorCode.TIMEOUT);
    expect(error.message).toMatch(/^frame header from peer incomplete after \d+ ms: 3 of 8 bytes \(allowed 300 ms\)$/);
    expect(atMs - smallStartedAtMs).toBeGreaterThanOrEqual(allowedMs(300, 8) - 1);
    // Cut by its own deadline, not the large frame's 8 s.
    expect(atMs - smallStartedAtMs).toBeLessThan(allowedMs(300, big.byteLength));
  });

  it('is disarmed between frames: a reader left idle after whole frames never expires', async () => {
    const t = deadline(100);
    const echo = encode(Msg.ECHO, { token: 1n });
    t.push(echo.subarray(0, 5));
    t.push(echo.subarray(5));
    await sleep(300);
    expect(t.expired()).toBeUndefined();
  });
});
