import { describe, expect, it } from 'vitest';
import { encodeFrame } from '../../src/protocol/frame.ts';
import { FrameReader } from '../../src/protocol/frame-reader.ts';
import { MAX_FRAME_BODY_BYTES, MAX_HELLO_BODY_BYTES } from '../../src/protocol/limits.ts';
import * as msg from '../../src/protocol/messages.ts';
import { Intent, MessageType, ProtocolError } from '../../src/index.ts';

const frames = [
  encodeFrame(MessageType.HELLO, msg.hello, {
    versionMin: 1,
    versionMax: 1,
    intent: Intent.MIGRATE,
    sessionId: new Uint8Array(16),
    pageSize: 4096,
    features: 0,
    guestId: 'g',
    regions: [{ name: 'ram0', sizeBytes: 4096 }],
  }),
  encodeFrame(MessageType.COMMIT, msg.empty, {}),
  encodeFrame(MessageType.ROUND_END, msg.roundEnd, { round: 1, pages: 2 }),
  encodeFrame(MessageType.DEVICE_STATE, msg.deviceState, { totalBytes: 300, offset: 0, data: new Uint8Array(300).fill(7) }),
];
const stream = Buffer.concat(frames);

function collect(reader: FrameReader, chunks: Uint8Array[]): { type: number; body: string }[] {
  return chunks.flatMap((c) => reader.push(c)).map((f) => ({ type: f.type, body: Buffer.from(f.body).toString('hex') }));
}
const expected = frames.map((f) => ({ type: f[4]!, body: f.subarray(8).toString('hex') }));

describe('FrameReader', () => {
  it('returns the same frames however the stream is split in two', () => {
    for (let cut = 0; cut <= stream.byteLength; cut++) {
      const reader = new FrameReader(MAX_FRAME_BODY_BYTES);
      expect(collect(reader, [stream.subarray(0, cut), stream.subarray(cut)])).toEqual(expected);
      expect(reader.buffered).toBe(0);
    }
  });

  it('returns the same frames when fed one byte at a time', () => {
    const reader = new FrameReader(MAX_FRAME_BODY_BYTES);
    const bytes = [...stream].map((b) => Uint8Array.of(b));
    expect(collect(reader, bytes)).toEqual(expected);
  });

  it('rejects an oversized length from the header alone, before buffering the body', () => {
    const reader = new FrameReader(MAX_HELLO_BODY_BYTES);
    const header = Buffer.alloc(8);
    header.writeUInt32LE(MAX_HELLO_BODY_BYTES + 1, 0);
    header[4] = MessageType.HELLO;
    expect(() => reader.push(header)).toThrow(expect.objectContaining({ code: 'FERRY_FRAME_TOO_LARGE' }));
    expect(reader.buffered).toBe(0);
  });

  it('rejects what an HTTP client or a TLS client sends first', () => {
    for (const junk of [
      Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'),
      Buffer.from('16030102000100' + '01fc0303', 'hex'),
      Buffer.alloc(64),
    ]) {
      const reader = new FrameReader(MAX_HELLO_BODY_BYTES);
      expect(() => reader.push(junk)).toThrow(ProtocolError);
    }
  });

  it('rejects message type 0, unknown types and non-zero flags', () => {
    const make = (type: number, flags: number): Buffer => {
      const b = Buffer.alloc(8);
      b[4] = type;
      b[5] = flags;
      return b;
    };
    expect(() => new FrameReader(100).push(make(0, 0))).toThrow(expect.objectContaining({ code: 'FERRY_UNKNOWN_MESSAGE' }));
    expect(() => new FrameReader(100).push(make(0x42, 0))).toThrow(expect.objectContaining({ code: 'FERRY_UNKNOWN_MESSAGE' }));
    expect(() => new FrameReader(100).push(make(MessageType.COMMIT, 2))).toThrow(
      expect.objectContaining({ code: 'FERRY_FRAME_MALFORMED' }),
    );
    // CHECKED (0x01) is a frame checksum's flag (version 3): refused where checksums are off.
    const off = new FrameReader(100);
    off.checks = 'off';
    expect(() => off.push(make(MessageType.COMMIT, 1))).toThrow(
      expect.objectContaining({ code: 'FERRY_FRAME_MALFORMED', message: 'frame COMMIT is CHECKED in a session without frame checksums' }),
    );
  });

  it('stays failed after a framing error', () => {
    const reader = new FrameReader(100);
    expect(() => reader.push(Buffer.alloc(8))).toThrow(ProtocolError);
    expect(() => reader.push(frames[1]!)).toThrow(ProtocolError);
  });

  it('reports a stream that ends inside a frame', () => {
    const reader = new FrameReader(MAX_FRAME_BODY_BYTES);
    reader.push(stream.subarray(0, 20));
    expect(() => reader.end()).toThrow(expect.objectContaining({ code: 'FERRY_FRAME_TRUNCATED' }));
  });
});

describe('FrameReader with reused bodies', () => {
  it('hands every frame intact to a handler that consumes it at once, whatever the chunking', () => {
    // Frames of many sizes, several spanning chunks in a row, with small frames between them.
    const bodies = Array.from({ length: 40 }, (_, i) => {
      const data = new Uint8Array(i % 3 === 0 ? 10 : 1000 + i * 97);
      for (let j = 0; j < data.length; j++) data[j] = (i * 31 + j) & 0xff;
      return data;
    });
    const wire = Buffer.concat(
      bodies.map((data) => encodeFrame(MessageType.DEVICE_STATE, msg.deviceState, { totalBytes: 1e6, offset: 0, data })),
    );
    for (const chunkSize of [7, 100, 999, 1500, 4096]) {
      const reader = new FrameReader(MAX_FRAME_BODY_BYTES);
      reader.reuseBodies = true;
      const seen: string[] = [];
      for (let at = 0; at < wire.length; at += chunkSize) {
        // Consume (copy) each frame before the next push, as a synchronous handler does.
        for (const f of reader.push(wire.subarray(at, at + chunkSize))) seen.push(Buffer.from(f.body).toString('hex'));
      }
      expect(seen).toEqual(
        bodies.map((data) =>
          encodeFrame(MessageType.DEVICE_STATE, msg.deviceState, { totalBytes: 1e6, offset: 0, data }).subarray(8).toString('hex'),
        ),
      );
    }
  });
});
