import { ProtocolError, ErrorCode } from '../errors.ts';

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true });

export function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

export function writeUtf8(target: Uint8Array, offset: number, text: string): number {
  return utf8Encoder.encodeInto(text, target.subarray(offset)).written;
}

export function readUtf8(source: Uint8Array, offset: number, length: number): string {
  try {
    return utf8Decoder.decode(source.subarray(offset, offset + length));
  } catch (err) {
    throw new ProtocolError(ErrorCode.FRAME_MALFORMED, 'string is not valid UTF-8', { cause: err });
  }
}

/** A DataView over exactly the bytes of `bytes`, which may be a view into a larger buffer. */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function toHex(value: bigint, width = 16): string {
  return `0x${value.toString(16).padStart(width, '0')}`;
}
