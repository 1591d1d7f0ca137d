import { describe, expect, it } from 'vitest';
import { ErrorCode, MessageType } from '../../src/index.ts';
import { FrameReader } from '../../src/protocol/frame-reader.ts';
import { decode, encode, Msg, type MessageName, specOf } from '../../src/protocol/registry.ts';

describe('the message registry', () => {
  it('binds every message type once, with the sender its value range says', () => {
    for (const [name, type] of Object.entries(MessageType) as [MessageName, MessageType][]) {
      expect(Msg[name].type).toBe(type);
      expect(Msg[name].name).toBe(name);
      expect(specOf(type)).toBe(Msg[name]);
      expect(Msg[name].sender).toBe(type < 0x80 ? 'source' : 'destination');
    }
    expect(Object.keys(Msg).sort()).toEqual(Object.keys(MessageType).sort());
  });

  it('encodes a whole frame and decodes it back by name, refusing a frame of another type', () => {
    const bytes = encode(Msg.ROUND_ACK, { round: 3, pages: 9, bytesReceived: 1234 });
    const [frame] = new FrameReader(1024).push(bytes);
    expect(frame!.type).toBe(MessageType.ROUND_ACK);
    expect(decode(Msg.ROUND_ACK, frame!)).toEqual({ round: 3, pages: 9, bytesReceived: 1234 });
    expect(() => decode(Msg.READY, frame!)).toThrow(
      expect.objectContaining({ code: ErrorCode.UNEXPECTED_MESSAGE, message: 'expected READY, got ROUND_ACK' }),
    );
  });
});
