import { crc32 } from 'node:zlib';
import { ErrorCode, IntegrityError, ProtocolError } from '../errors.ts';
import { MessageType, messageName } from './constants.ts';
import { FRAME_HEADER_BYTES, PAGE_ENTRY_BYTES, PAGES_HEADER_BYTES } from './limits.ts';

/**
 * Frame integrity (protocol version 3, docs/protocol.md §2.1): in a version 3 session every
 * frame after HELLO_ACCEPT sets `FRAME_FLAG_CHECKED` in its header and is followed by a 4-byte
 * trailer, the CRC-32 (ISO-HDLC, zlib's) of its header and its covered body. A PAGES body is
 * covered up to the end of its entry table: each payload is covered by its entry's xxh64, which
 * the CRC covers. PROBE_DATA is covered by its header only (its bytes are discarded). Every
 * other body is covered whole: device state, acknowledgements and decisions are verified
 * before they are acted on, and a corrupted frame is a transport fault.
 */
export const FRAME_FLAG_CHECKED = 0x01;
export const FRAME_TRAILER_BYTES = 4;

/** The first protocol version whose frames carry a checksum. */
export const CHECKED_FRAMES_MIN_VERSION = 3;

/** What a connection's frames carry from HELLO_ACCEPT on in a session of `version`. */
export function frameChecksFor(version: number): 'off' | 'required' {
  return version >= CHECKED_FRAMES_MIN_VERSION ? 'required' : 'off';
}

/** How many body bytes the checksum of a `type` frame covers (`body` is whole). */
export function coveredBodyBytes(type: number, body: Uint8Array): number {
  if (type === MessageType.PROBE_DATA) return 0;
  if (type !== MessageType.PAGES) return body.byteLength;
  if (body.byteLength < PAGES_HEADER_BYTES) {
    throw new ProtocolError(ErrorCode.FRAME_TRUNCATED, `PAGES body of ${body.byteLength} bytes has no batch header`);
  }
  const count = new DataView(body.buffer, body.byteOffset + 8, 4).getUint32(0, true);
  const covered = PAGES_HEADER_BYTES + count * PAGE_ENTRY_BYTES;
  if (covered > body.byteLength) {
    throw new ProtocolError(ErrorCode.FRAME_TRUNCATED, `PAGES declares ${count} entries, more than its ${body.byteLength} bytes hold`);
  }
  return covered;
}

/** The checksum of a frame: its 8 header bytes (flags included) and its covered body. */
export function frameChecksum(header: Uint8Array, type: number, body: Uint8Array): number {
  return crc32(body.subarray(0, coveredBodyBytes(type, body)), crc32(header.subarray(0, FRAME_HEADER_BYTES)));
}

/** Checks a received trailer; a mismatch is FERRY_CHECKSUM_MISMATCH naming the frame. */
export function checkFrame(header: Uint8Array, type: number, body: Uint8Array, trailer: Uint8Array): void {
  const sent = new DataView(trailer.buffer, trailer.byteOffset, FRAME_TRAILER_BYTES).getUint32(0, true);
  const computed = frameChecksum(header, type, body);
  if (sent !== computed) {
    throw new IntegrityError(
      ErrorCode.CHECKSUM_MISMATCH,
      `${messageName(type)} frame of ${body.byteLength} body bytes fails its checksum (sent 0x${sent.toString(16)}, computed 0x${computed.toString(16)})`,
    );
  }
}

/**
 * Marks a whole frame (header and body, as written) checked in place and returns its trailer:
 * what a sender in a version 3 session writes right after the frame.
 */
export function sealFrame(frame: Uint8Array): Buffer {
  frame[5]! |= FRAME_FLAG_CHECKED;
  const body = frame.subarray(FRAME_HEADER_BYTES);
  const trailer = Buffer.allocUnsafe(FRAME_TRAILER_BYTES);
  trailer.writeUInt32LE(frameChecksum(frame, frame[4]!, body), 0);
  return trailer;
}
