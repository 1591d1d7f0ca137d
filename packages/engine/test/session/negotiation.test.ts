import net from 'node:net';
import { describe, expect, it } from 'vitest';
import {
  encodeFrame,
  ErrorCode,
  Feature,
  FrameReader,
  Intent,
  MessageType,
  messages as msg,
  PageEncoding,
  PROTOCOL_VERSION,
  probe,
} from '../../src/index.ts';
import { Cursor } from '../../src/protocol/cursor.ts';
import { sealFrame } from '../../src/protocol/frame-check.ts';
import { frameProxy } from '../harness/frame-proxy.ts';
import { expectSameMemory, listenSink, MiB, rawExchange, sourceHost } from '../harness/index.ts';

/** Protocol version 4: features and encodings negotiated in HELLO_ACCEPT; the frame limit obeyed (docs/protocol.md §3.1.1). */
describe('negotiation (version 4)', () => {
  it('a destination without LZ4, XBZRLE and DEDUP gets none of them from an adaptive source, which says what it did without', async () => {
    const destination = await listenSink({ acceptEncodings: [] });
    const used = new Set<number>();
    const proxy = await frameProxy(destination.port, ({ direction, type, bytes }) => {
      if (direction === 'to-destination' && type === MessageType.PAGES) {
        // Body: u16 region, u16 reserved, u32 round, u32 count, then 20-byte entries (u8 encoding at +4).
        const count = bytes.readUInt32LE(8 + 8);
        for (let i = 0; i < count; i++) used.add(bytes[8 + 12 + i * 20 + 4]!);
      }
      return 'pass';
    });
    const source = await sourceHost({ memory: 4 * MiB, fill: 'text', guest: { pagesPerSec: 2_000, workingSetFraction: 0.25 } });
    const report = await source.migrateTo(proxy.port, { compression: 'adaptive', maxRounds: 4 });
    const incoming = await destination.result;
    expect(used.size).toBeGreaterThan(0);
    expect([...used].filter((e) => e !== PageEncoding.RAW && e !== PageEncoding.ZERO)).toEqual([]);
    expect(report.codecs.pages).toMatchObject({ lz4: 0, xbzrle: 0, dedup: 0 });
    expect(report.negotiated).toMatchObject({ version: PROTOCOL_VERSION, encodings: ['RAW', 'ZERO'] });
    expect(report.negotiated.declined.join('; ')).toMatch(/LZ4.*XBZRLE.*DEDUP/);
    expect(report.digest).toBe(incoming.digest);
    // The same source and options to a destination that takes them all do use them.
    const full = await listenSink();
    const control = await source.migrateTo(full.port, { compression: 'lz4' });
    expect(control.codecs.pages.lz4).toBeGreaterThan(0);
    expect(control.negotiated.declined).toEqual([]);
  });

  it('channels and hybrid collapse to one connection and pre-copy when the destination takes neither', async () => {
    const destination = await listenSink({ acceptFeatures: ['resumable'] });
    const source = await sourceHost({ memory: 4 * MiB, fill: 'pattern' });
    const report = await source.migrateTo(destination.port, { channels: 3, strategy: 'hybrid' });
    const incoming = await destination.result;
    expect(report.strategy).toBe('precopy');
    expect(report.negotiated.features).toEqual([]);
    expect(report.negotiated.declined).toEqual([
      "POSTCOPY: strategy 'hybrid' runs as pre-copy",
      'CHANNELS: 3 channels collapse to the control connection',
    ]);
    expect(incoming.channels).toBe(1);
    expectSameMemory(incoming.memory, source.memory);
  });

  it('pure post-copy to a destination without POSTCOPY fails with FERRY_FEATURE_REFUSED before the guest is paused', async () => {
    const destination = await listenSink({ acceptFeatures: ['channels', 'resumable'] });
    const source = await sourceHost({ memory: 2 * MiB, fill: 'pattern' });
    await expect(source.migrateTo(destination.port, { strategy: 'postcopy' })).rejects.toMatchObject({
      code: ErrorCode.FEATURE_REFUSED,
      message: expect.stringMatching(/does not accept POSTCOPY.*strategy 'postcopy'/),
    });
    expect(source.plane.calls).toEqual([]);
    await expect(destination.result).rejects.toMatchObject({ code: ErrorCode.ABORTED });
  });

  it('probe() tells which of the features offered the destination takes, and the encodings it decodes', async () => {
    const destination = await listenSink({ acceptFeatures: ['channels'], acceptEncodings: ['lz4'], maxFrameBodyBytes: 1 << 20 });
    const layout = { pageSize: 4096, regions: [{ name: 'ram0', sizeBytes: MiB }] };
    await expect(probe({ host: '127.0.0.1', port: destination.port, layout, features: ['postcopy', 'channels'] })).resolves.toMatchObject({
      accepted: true,
      version: PROTOCOL_VERSION,
      maxFrameBodyBytes: 1 << 20,
      features: ['CHANNELS'],
      encodings: ['RAW', 'ZERO', 'LZ4'],
    });
  });

  for (const strategy of ['precopy', 'postcopy'] as const) {
    it(`${strategy}: every frame the source sends fits the 64 KiB the destination announced, device state included`, async () => {
      const destination = await listenSink({ maxFrameBodyBytes: 64 * 1024 });
      let largest = 0;
      let frames = 0;
      const proxy = await frameProxy(destination.port, ({ direction, bytes }) => {
        if (direction === 'to-destination') {
          largest = Math.max(largest, bytes.readUInt32LE(0));
          frames++;
        }
        return 'pass';
      });
      const source = await sourceHost({ memory: 8 * MiB, fill: 'pattern', deviceState: new Uint8Array(300_000).fill(9) });
      const report = await source.migrateTo(proxy.port, { strategy, batchPages: 256 });
      const incoming = await destination.result;
      expect(report.negotiated.maxFrameBodyBytes).toBe(64 * 1024);
      expect(largest).toBeLessThanOrEqual(64 * 1024);
      expect(frames).toBeGreaterThan((8 * MiB) / (64 * 1024));
      expect(incoming.deviceState).toEqual(new Uint8Array(300_000).fill(9));
      expect(report.digest).toBe(incoming.digest);
    });
  }
});

describe('round numbers (version 4)', () => {
  /** `bytes` (a CHECKED frame) with the u32 at body offset `at` set to `value`, sealed again. */
  const rewrite = (bytes: Buffer, at: number, value: number): Buffer => {
    const frame = Buffer.from(bytes.subarray(0, bytes.byteLength - 4));
    frame.writeUInt32LE(value, 8 + at);
    return Buffer.concat([frame, sealFrame(frame)]);
  };

  for (const [what, type, at] of [
    ['a ROUND_END', MessageType.ROUND_END, 0],
    ['a PAGES batch', MessageType.PAGES, 4],
    ['SWITCHOVER', MessageType.SWITCHOVER, 0],
    ["COMPLETE's finalRound", MessageType.COMPLETE, 16],
  ] as const) {
    it(`${what} with a round number out of sequence is refused; the guest runs on at the source`, async () => {
      const destination = await listenSink();
      let changed = false;
      const proxy = await frameProxy(destination.port, ({ direction, type: t, bytes }) => {
        if (direction !== 'to-destination' || t !== type || changed) return 'pass';
        changed = true;
        return { replace: rewrite(bytes, at, bytes.readUInt32LE(8 + at) + 1) };
      });
      const source = await sourceHost({ memory: 2 * MiB, fill: 'pattern' });
      await expect(source.migrateTo(proxy.port)).rejects.toMatchObject({
        code: ErrorCode.PEER_FAILED,
        remoteCode: ErrorCode.UNEXPECTED_MESSAGE,
      });
      expect(changed).toBe(true);
      expect(source.plane.calls.filter((c) => c !== 'pause' && c !== 'saveDeviceState')).toEqual(
        source.plane.calls.includes('pause') ? ['resume'] : [],
      );
      await expect(destination.result).rejects.toMatchObject({ code: ErrorCode.UNEXPECTED_MESSAGE });
    });
  }
});

describe('the handshake, by hand', () => {
  const hello = (o: { versionMax: number; features: number }): Buffer =>
    encodeFrame(MessageType.HELLO, msg.hello, {
      versionMin: 1,
      versionMax: o.versionMax,
      intent: Intent.MIGRATE,
      sessionId: new Uint8Array(16).fill(3),
      pageSize: 4096,
      features: o.features,
      guestId: 'by-hand',
      regions: [{ name: 'ram0', sizeBytes: MiB }],
    });

  it('version 4 leaves unknown and declined feature bits out of HELLO_ACCEPT instead of refusing', async () => {
    const destination = await listenSink({ acceptFeatures: ['channels'], acceptEncodings: ['lz4'] });
    const first = await firstFrame(destination.port, hello({ versionMax: 4, features: Feature.POSTCOPY | Feature.CHANNELS | 0x100 }));
    expect(first.type).toBe(MessageType.HELLO_ACCEPT);
    expect(first.body.byteLength).toBe(16);
    const accept = msg.helloAccept.decode(new Cursor(first.body));
    expect(accept).toEqual({
      version: 4,
      maxFrameBodyBytes: 16 * MiB,
      features: Feature.CHANNELS,
      encodings: (1 << PageEncoding.RAW) | (1 << PageEncoding.ZERO) | (1 << PageEncoding.LZ4),
    });
  });

  it('up to version 3 a feature the destination does not take is refused, as it always was', async () => {
    const destination = await listenSink({ acceptFeatures: [] });
    const first = await firstFrame(destination.port, hello({ versionMax: 3, features: Feature.POSTCOPY }));
    expect(first.type).toBe(MessageType.HELLO_REJECT);
    expect(msg.errorReport.decode(new Cursor(first.body))).toMatchObject({
      code: ErrorCode.INCOMPATIBLE_GUEST,
      message: 'this destination does not take POSTCOPY',
    });
    const v3 = await firstFrame(destination.port, hello({ versionMax: 3, features: 0 }));
    expect(msg.helloAccept.decode(new Cursor(v3.body))).toEqual({ version: 3, maxFrameBodyBytes: 16 * MiB });
  });

  it('ABORT right after HELLO closes the connection unanswered, and the destination still takes a migration', async () => {
    const destination = await listenSink();
    const abort = encodeFrame(MessageType.ABORT, msg.errorReport, { code: 'FERRY_ABORTED', message: 'changed my mind' });
    const reply = await rawExchange(destination.port, Buffer.concat([hello({ versionMax: 4, features: 0 }), abort]));
    expect(reply.byteLength).toBe(0);
    expect(destination.events).toContainEqual(
      expect.objectContaining({ type: 'rejected', code: ErrorCode.ABORTED, reason: expect.stringContaining('changed my mind') }),
    );
    const source = await sourceHost({ memory: 2 * MiB, fill: 'pattern' });
    await source.migrateTo(destination.port);
    expectSameMemory((await destination.result).memory, source.memory);
  });
});

/** Sends `bytes` and returns the first frame the peer answers with, then hangs up. */
function firstFrame(port: number, bytes: Uint8Array): Promise<{ type: number; body: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const reader = new FrameReader(1 << 20);
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    s.on('data', (c) => {
      const [frame] = reader.push(c);
      if (!frame) return;
      s.destroy();
      resolve({ type: frame.type, body: new Uint8Array(frame.body) });
    });
    s.on('error', reject);
  });
}
