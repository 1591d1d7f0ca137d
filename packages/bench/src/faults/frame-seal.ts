/**
 * A version 3 frame's checksum trailer (docs/protocol.md §2.1: CRC-32 of the header and the
 * covered body), so that a lying peer's frames are well-formed and reach the state machine: a
 * liar is not a noisy link. Used only for frames the campaign makes up.
 */
import { crc32 } from 'node:zlib';
import { limits, MessageType } from '@ferry/engine';
import { FRAME_FLAG_CHECKED } from './frame-splitter.ts';

/** Body bytes the checksum covers: a PAGES batch up to its entry table, PROBE_DATA none, anything else all. */
function coveredBytes(type: number, body: Uint8Array): number {
  if (type === MessageType.PROBE_DATA) return 0;
  if (type !== MessageType.PAGES || body.byteLength < 12) return body.byteLength;
  const count = Buffer.from(body.buffer, body.byteOffset, body.byteLength).readUInt32LE(8);
  return Math.min(body.byteLength, 12 + count * limits.PAGE_ENTRY_BYTES);
}

/** `frame` (unchecked) with the CHECKED flag and its trailer. */
export function seal(frame: Uint8Array): Buffer {
  const h = limits.FRAME_HEADER_BYTES;
  const out = Buffer.from(frame);
  out[5]! |= FRAME_FLAG_CHECKED;
  const body = out.subarray(h);
  const trailer = Buffer.alloc(4);
  trailer.writeUInt32LE(crc32(body.subarray(0, coveredBytes(out[4]!, body)), crc32(out.subarray(0, h))), 0);
  return Buffer.concat([out, trailer]);
}

/** Whether `frame` carries a trailer: then the session checks frames, and a made-up frame must be sealed to pass. */
export function isChecked(frame: Uint8Array): boolean {
  return (frame[5]! & FRAME_FLAG_CHECKED) !== 0;
}

/** `made` sealed if `like` (a frame of the same connection) is. */
export function sealLike(like: Uint8Array, made: Uint8Array): Buffer {
  return isChecked(like) ? seal(made) : Buffer.from(made);
}

/** A checked `frame` with one bit of its body flipped and its trailer computed again: a lie, not noise. */
export function flipSealed(frame: Uint8Array, bodyOffset: number): Buffer {
  const h = limits.FRAME_HEADER_BYTES;
  const bodyBytes = Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength).readUInt32LE(0);
  const plain = Buffer.from(frame.subarray(0, h + bodyBytes));
  plain[h + bodyOffset]! ^= 0x01;
  if (!isChecked(frame)) return plain;
  plain[5]! &= ~FRAME_FLAG_CHECKED;
  return seal(plain);
}
