import { describe, expect, it } from 'vitest';
import { ErrorCode, MessageType } from '../../src/index.ts';
import { coveredBodyBytes, FRAME_FLAG_CHECKED, sealFrame } from '../../src/protocol/frame-check.ts';
import { FrameReader } from '../../src/protocol/frame-reader.ts';
import { PAGE_ENTRY_BYTES, PAGES_HEADER_BYTES } from '../../src/protocol/limits.ts';
import { encode, Msg } from '../../src/protocol/registry.ts';

const checked = (frame: Buffer): Buffer => Buffer.concat([frame, sealFrame(frame)]);

describe('frame checksums (version 3)', () => {
  it('seal the ECHO of the spec to its test vector', () => {
    const frame = encode(Msg.ECHO, { token: 7n });
    const trailer = sealFrame(frame);
    expect(frame[5]).toBe(FRAME_FLAG_CHECKED);
    expect(Buffer.concat([frame, trailer]).toString('hex')).toBe('080000000f0100000700000000000000b29d7726');
  });

  it('are read back at every split of the stream, and a flipped bit anywhere in a covered byte is FERRY_CHECKSUM_MISMATCH', () => {
    const bytes = checked(encode(Msg.ROUND_ACK, { round: 3, pages: 9, bytesReceived: 12345 }));
    for (let split = 0; split <= bytes.byteLength; split++) {
      const reader = new FrameReader(1024);
      reader.checks = 'required';
      const frames = [...reader.push(bytes.subarray(0, split)), ...reader.push(bytes.subarray(split))];
      expect(frames.map((f) => f.type)).toEqual([MessageType.ROUND_ACK]);
      expect(frames[0]!.body.byteLength).toBe(16);
    }
    for (let at = 0; at < bytes.byteLength; at++) {
      if (at === 5) continue; // the flag itself: its loss is a frame without a checksum
      const bad = Buffer.from(bytes);
      bad[at]! ^= 0x10;
      const reader = new FrameReader(1 << 20);
      reader.checks = 'required';
      // Never a frame: a typed error, or (a longer declared length) a frame still waiting for its bytes.
      let frames: unknown[] = [];
      let code: string | undefined;
      try {
        frames = reader.push(bad);
      } catch (err) {
        code = (err as { code: string }).code;
      }
      expect(frames, `byte ${at}`).toEqual([]);
      if (code !== undefined) expect(code).toMatch(/FERRY_(CHECKSUM_MISMATCH|UNKNOWN_MESSAGE|FRAME_MALFORMED|FRAME_TOO_LARGE)/);
      else expect(reader.inFrame, `byte ${at}`).toBe(true);
    }
    const flipped = Buffer.from(bytes);
    flipped[12]! ^= 1;
    const reader = new FrameReader(1024);
    reader.checks = 'required';
    expect(() => reader.push(flipped)).toThrow(expect.objectContaining({ code: ErrorCode.CHECKSUM_MISMATCH }));
  });

  it('cover a PAGES body up to its entry table (payloads have their own xxh64), and PROBE_DATA by its header only', () => {
    const body = new Uint8Array(PAGES_HEADER_BYTES + 2 * PAGE_ENTRY_BYTES + 8192);
    new DataView(body.buffer).setUint32(8, 2, true);
    expect(coveredBodyBytes(MessageType.PAGES, body)).toBe(PAGES_HEADER_BYTES + 2 * PAGE_ENTRY_BYTES);
    expect(coveredBodyBytes(MessageType.PROBE_DATA, body)).toBe(0);
    expect(coveredBodyBytes(MessageType.DEVICE_STATE, body)).toBe(body.byteLength);
    new DataView(body.buffer).setUint32(8, 1000, true);
    expect(() => coveredBodyBytes(MessageType.PAGES, body)).toThrow(expect.objectContaining({ code: ErrorCode.FRAME_TRUNCATED }));
  });

  it('are required after HELLO_ACCEPT in version 3 and refused where they are off', () => {
    const plain = encode(Msg.COMMIT, {});
    const required = new FrameReader(1024);
    required.checks = 'required';
    expect(() => required.push(plain)).toThrow(
      expect.objectContaining({ code: ErrorCode.FRAME_MALFORMED, message: 'frame COMMIT has no checksum in a version 3 session' }),
    );
    const off = new FrameReader(1024);
    off.checks = 'off';
    expect(() => off.push(checked(encode(Msg.COMMIT, {})))).toThrow(expect.objectContaining({ code: ErrorCode.FRAME_MALFORMED }));
    const auto = new FrameReader(1024);
    expect(auto.push(Buffer.concat([encode(Msg.COMMIT, {}), checked(encode(Msg.COMMIT, {}))])).map((f) => f.type)).toEqual([
      MessageType.COMMIT,
      MessageType.COMMIT,
    ]);
  });
});
