import { describe, expect, it } from 'vitest';
import { Cursor } from '../../src/protocol/cursor.ts';
import { decodeBody, encodeFrame } from '../../src/protocol/frame.ts';
import { FRAME_HEADER_BYTES } from '../../src/protocol/limits.ts';
import * as msg from '../../src/protocol/messages.ts';
import { Intent, MessageType, ProtocolError } from '../../src/index.ts';

const sessionId = new Uint8Array(16).fill(0xab);
const hello: msg.Hello = {
  versionMin: 1,
  versionMax: 1,
  intent: Intent.MIGRATE,
  sessionId,
  pageSize: 4096,
  features: 0,
  guestId: 'vm1',
  regions: [{ name: 'ram0', sizeBytes: 1 << 20 }],
};

function roundTrip<T>(type: MessageType, codec: msg.MessageCodec<T>, value: T): T {
  const frame = encodeFrame(type, codec, value);
  expect(frame.readUInt32LE(0)).toBe(frame.byteLength - FRAME_HEADER_BYTES);
  expect(frame[4]).toBe(type);
  return decodeBody(codec, frame.subarray(FRAME_HEADER_BYTES));
}

describe('control messages', () => {
  it('round-trip every control message unchanged', () => {
    expect(roundTrip(MessageType.HELLO, msg.hello, hello)).toEqual(hello);
    const multi = {
      ...hello,
      intent: Intent.PROBE,
      guestId: 'gäst ✓',
      regions: [
        { name: 'a', sizeBytes: 4096 },
        { name: 'b', sizeBytes: 2 ** 40 },
      ],
    };
    expect(roundTrip(MessageType.HELLO, msg.hello, multi)).toEqual(multi);
    expect(roundTrip(MessageType.HELLO_ACCEPT, msg.helloAccept, { version: 1, maxFrameBodyBytes: 16 << 20 })).toEqual({
      version: 1,
      maxFrameBodyBytes: 16 << 20,
    });
    const report = { code: 'FERRY_REJECTED', message: 'busy' };
    expect(roundTrip(MessageType.HELLO_REJECT, msg.errorReport, report)).toEqual(report);
    expect(roundTrip(MessageType.ROUND_END, msg.roundEnd, { round: 7, pages: 1234 })).toEqual({ round: 7, pages: 1234 });
    const ack = { round: 7, pages: 1234, bytesReceived: 2 ** 40 + 5 };
    expect(roundTrip(MessageType.ROUND_ACK, msg.roundAck, ack)).toEqual(ack);
    expect(roundTrip(MessageType.SWITCHOVER, msg.switchover, { round: 9 })).toEqual({ round: 9 });
    const chunk = roundTrip(MessageType.DEVICE_STATE, msg.deviceState, { totalBytes: 10, offset: 4, data: Uint8Array.of(1, 2, 3) });
    expect([chunk.totalBytes, chunk.offset, [...chunk.data]]).toEqual([10, 4, [1, 2, 3]]);
    const complete = { digest: 0xffff_ffff_ffff_fffen, totalPages: 65536, finalRound: 4 };
    expect(roundTrip(MessageType.COMPLETE, msg.complete, complete)).toEqual(complete);
    expect(roundTrip(MessageType.READY, msg.ready, { digest: 5n })).toEqual({ digest: 5n });
    expect(roundTrip(MessageType.RESUMED, msg.resumed, { resumeMicros: 12, verifyMicros: 34 })).toEqual({
      resumeMicros: 12,
      verifyMicros: 34,
    });
    expect(roundTrip(MessageType.COMMIT, msg.empty, {})).toEqual({});
    expect(roundTrip(MessageType.POSTCOPY_ENTER, msg.postcopyEnter, { round: 3 })).toEqual({ round: 3 });
    const missing = { region: 2, firstPage: 1 << 20, pageCount: 77, runs: Uint8Array.of(0, 5, 72) };
    const missingBack = roundTrip(MessageType.POSTCOPY_MISSING, msg.postcopyMissing, missing);
    expect({ ...missingBack, runs: [...missingBack.runs] }).toEqual({ ...missing, runs: [0, 5, 72] });
    expect(roundTrip(MessageType.PAGE_REQUEST, msg.pageRequest, { region: 1, page: 9, count: 1024 })).toEqual({
      region: 1,
      page: 9,
      count: 1024,
    });
    expect(roundTrip(MessageType.POSTCOPY_DONE, msg.postcopyDone, { digest: 7n })).toEqual({ digest: 7n });
    expect(roundTrip(MessageType.RECOVER_END, msg.recoverEnd, { missingPages: 12 })).toEqual({ missingPages: 12 });
  });

  it('cut long error messages to the limit instead of failing to encode', () => {
    const long = 'é'.repeat(5000);
    const back = roundTrip(MessageType.FAILED, msg.errorReport, { code: 'X', message: long });
    expect(Buffer.byteLength(back.message)).toBeLessThanOrEqual(1024);
    expect(long.startsWith(back.message)).toBe(true);
  });

  it('reject a HELLO with bad magic as a stranger', () => {
    const body = encodeFrame(MessageType.HELLO, msg.hello, hello).subarray(FRAME_HEADER_BYTES);
    body[0] = 0x47;
    expect(() => decodeBody(msg.hello, body)).toThrow(expect.objectContaining({ code: 'FERRY_BAD_MAGIC' }));
  });

  it('reject truncated, padded and out-of-range bodies with typed errors', () => {
    const body = encodeFrame(MessageType.HELLO, msg.hello, hello).subarray(FRAME_HEADER_BYTES);
    for (let cut = 0; cut < body.byteLength; cut++) {
      expect(() => decodeBody(msg.hello, body.subarray(0, cut))).toThrow(ProtocolError);
    }
    const padded = new Uint8Array(body.byteLength + 1);
    padded.set(body);
    expect(() => decodeBody(msg.hello, padded)).toThrow(expect.objectContaining({ code: 'FERRY_FRAME_MALFORMED' }));
    // A region count of zero.
    const noRegions = body.slice();
    const at = body.byteLength - (2 + 2 + 4 + 8);
    noRegions[at] = 0;
    expect(() => decodeBody(msg.hello, noRegions)).toThrow(expect.objectContaining({ code: 'FERRY_FRAME_MALFORMED' }));
    // A u64 size beyond 2^53.
    const huge = body.slice();
    huge.fill(0xff, body.byteLength - 8);
    expect(() => decodeBody(msg.hello, huge)).toThrow(expect.objectContaining({ code: 'FERRY_FRAME_MALFORMED' }));
  });

  it('reject post-copy messages whose counts are out of range', () => {
    const request = encodeFrame(MessageType.PAGE_REQUEST, msg.pageRequest, { region: 0, page: 0, count: 1025 });
    expect(() => decodeBody(msg.pageRequest, request.subarray(8))).toThrow(/1\.\.1024/);
    const missing = encodeFrame(MessageType.POSTCOPY_MISSING, msg.postcopyMissing, {
      region: 0,
      firstPage: 0,
      pageCount: 0,
      runs: new Uint8Array(0),
    });
    expect(() => decodeBody(msg.postcopyMissing, missing.subarray(8))).toThrow(ProtocolError);
  });

  it('reject a device-state chunk that runs past its declared size', () => {
    const c = new Cursor(new Uint8Array(19));
    c.setU64(2);
    c.setU64(0);
    c.setRaw(Uint8Array.of(1, 2, 3));
    expect(() => decodeBody(msg.deviceState, c.bytes)).toThrow(expect.objectContaining({ code: 'FERRY_FRAME_MALFORMED' }));
  });
});
