import { ErrorCode, ProtocolError } from '../errors.ts';
import { isMessageType, type MessageType, messageName } from './constants.ts';
import { Cursor } from './cursor.ts';
import { FRAME_FLAG_CHECKED } from './frame-check.ts';
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
export function readFrameHeader(
  view: DataView,
  offset: number,
  maxBodyBytes: number,
): { type: MessageType; bodyBytes: number; checked: boolean } {
  const bodyBytes = view.getUint32(offset, true);
  const type = view.getUint8(offset + 4);
  const flags = view.getUint8(offset + 5);
  const reserved = view.getUint16(offset + 6, true);
  if (type === 0 || !isMessageType(type)) {
    throw new ProtocolError(ErrorCode.UNKNOWN_MESSAGE, `unknown message type ${messageName(type)}`);
  }
  if ((flags & ~FRAME_FLAG_CHECKED) !== 0 || reserved !== 0) {
    throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `frame ${messageName(type)} has unknown flags or non-zero reserved bits`);
  }
  if (bodyBytes > maxBodyBytes) {
    throw new ProtocolError(
      ErrorCode.FRAME_TOO_LARGE,
      `frame ${messageName(type)} declares ${bodyBytes} body bytes, limit ${maxBodyBytes}`,
    );
  }
  return { type, bodyBytes, checked: flags === FRAME_FLAG_CHECKED };
}

/** Bytes of a non-Ferry peer's opening that an error shows. */
const OPENING_SHOWN_BYTES = 16;

/**
 * What to report when a connection's first header fails its checks (`opening`: the bytes from
 * that header on). An unknown message type there, or the start of a TLS record, means the peer
 * does not speak Ferry at all (an HTTP client, a TLS client, a scanner): FERRY_UNKNOWN_MESSAGE
 * saying so, with the first bytes as text and hex. Any other fault is returned as it was.
 */
export function notFerry(error: ProtocolError, opening: Uint8Array): ProtocolError {
  // A TLS record: a handshake (0x16) or an alert (0x15), version 3.x.
  const tlsRecord = (opening[0] === 0x16 || opening[0] === 0x15) && opening[1] === 0x03;
  if (error.code !== ErrorCode.UNKNOWN_MESSAGE && !tlsRecord) return error;
  const shown = opening.subarray(0, OPENING_SHOWN_BYTES);
  const text = Array.from(shown, printable).join('');
  const hex = Array.from(shown, (b) => b.toString(16).padStart(2, '0')).join(' ');
  const guess = tlsRecord
    ? `: a TLS ${opening[0] === 0x16 ? 'handshake' : 'alert'} (is tls given to one side only?)`
    : /^(GET|HEAD|POST|PUT|DELETE|OPTIONS|PATCH|CONNECT|TRACE) /.test(text)
      ? ': an HTTP request'
      : '';
  return new ProtocolError(ErrorCode.UNKNOWN_MESSAGE, `the peer does not speak Ferry: its first bytes are "${text}" (${hex})${guess}`, {
    cause: error,
  });
}

function printable(byte: number): string {
  if (byte === 0x0d) return '\\r';
  if (byte === 0x0a) return '\\n';
  if (byte === 0x09) return '\\t';
  if (byte === 0x22 || byte === 0x5c) return `\\${String.fromCharCode(byte)}`;
  return byte >= 0x20 && byte < 0x7f ? String.fromCharCode(byte) : `\\x${byte.toString(16).padStart(2, '0')}`;
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
