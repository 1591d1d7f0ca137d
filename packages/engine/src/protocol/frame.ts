import { ErrorCode, ProtocolError } from '../errors.ts';
import { isMessageType, type MessageType, messageName } from './constants.ts';
import { Cursor } from './cursor.ts';
import { FRAME_HEADER_BYTES } from './limits.ts';
import type { MessageCodec } from './messages.ts';

/**
 * A frame is an 8-byte header and a body:
 *
 *   u32 body length | u8 message type | u8 flags (0) | u16 reserved (0) | body
 */
export interface Frame {
  readonly type: MessageType;
  /** The body, a view that stays valid until the reader is pushed again past it. */
  readonly body: Uint8Array;
}

export function writeFrameHeader(view: DataView, offset: number, type: MessageType, bodyBytes: number): void {
  view.setUint32(offset, bodyBytes, true);
  view.setUint8(offset + 4, type);
  view.setUint8(offset + 5, 0);
  view.setUint16(offset + 6, 0, true);
}

/** Reads and checks a header; `maxBodyBytes` is enforced before any body byte is buffered. */
export function readFrameHeader(view: DataView, offset: number, maxBodyBytes: number): { type: MessageType; bodyBytes: number } {
  const bodyBytes = view.getUint32(offset, true);
  const type = view.getUint8(offset + 4);
  const flags = view.getUint8(offset + 5);
  const reserved = view.getUint16(offset + 6, true);
  if (type === 0 || !isMessageType(type)) {
    throw new ProtocolError(ErrorCode.UNKNOWN_MESSAGE, `unknown message type ${messageName(type)}`);
  }
  if (flags !== 0 || reserved !== 0) {
    throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `frame ${messageName(type)} has non-zero flags or reserved bits`);
  }
  if (bodyBytes > maxBodyBytes) {
    throw new ProtocolError(
      ErrorCode.FRAME_TOO_LARGE,
      `frame ${messageName(type)} declares ${bodyBytes} body bytes, limit ${maxBodyBytes}`,
    );
  }
  return { type, bodyBytes };
}

/** Sizes, allocates once and encodes a whole control frame. */
export function encodeFrame<T>(type: MessageType, codec: MessageCodec<T>, msg: T): Buffer {
  const bodyBytes = codec.preencode(msg);
  const out = Buffer.allocUnsafe(FRAME_HEADER_BYTES + bodyBytes);
  const c = new Cursor(out);
  writeFrameHeader(c.view, 0, type, bodyBytes);
  c.offset = FRAME_HEADER_BYTES;
  codec.encode(msg, c);
  if (c.offset !== out.byteLength) {
    throw new ProtocolError(
      ErrorCode.FRAME_MALFORMED,
      `${messageName(type)}: preencode said ${bodyBytes}, wrote ${c.offset - FRAME_HEADER_BYTES}`,
    );
  }
  return out;
}

/** Decodes a control frame body with its codec. */
export function decodeBody<T>(codec: MessageCodec<T>, body: Uint8Array): T {
  return codec.decode(new Cursor(body));
}

/** The body of `frame`, which must be of `type`; anything else is FERRY_UNEXPECTED_MESSAGE. */
export function expectType(frame: Frame, type: MessageType): Uint8Array {
  if (frame.type !== type) {
    throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `expected ${messageName(type)}, got ${messageName(frame.type)}`);
  }
  return frame.body;
}
