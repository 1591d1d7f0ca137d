import { crc32 } from 'node:zlib';
import { MessageType } from '@ferry/engine';

/** Frame header bytes (§2) and the CRC-32 trailer of a version 3 frame (§2.1). */
export const HEADER_BYTES = 8;
export const TRAILER_BYTES = 4;
export const FLAG_CHECKED = 0x01;

const typeNames = new Map<number, string>(Object.entries(MessageType).map(([k, v]) => [v, k]));
/** A message type's name for reports, or its hex value when the type is unassigned. */
export function typeName(type: number): string {
  return typeNames.get(type) ?? `0x${type.toString(16).padStart(2, '0')}`;
}

/** How many body bytes the CRC covers (§2.1): PAGES up to its entry table, PROBE_DATA nothing. */
export function coveredBytes(type: number, body: Uint8Array): number {
  if (type === MessageType.PROBE_DATA) return 0;
  if (type !== MessageType.PAGES) return body.byteLength;
  if (body.byteLength < 12) return body.byteLength;
  const count = Buffer.from(body.buffer, body.byteOffset, body.byteLength).readUInt32LE(8);
  return Math.min(body.byteLength, 12 + 20 * count);
}

export function frameCrc(header: Uint8Array, type: number, body: Uint8Array): number {
  const head = crc32(header.subarray(0, HEADER_BYTES));
  const covered = coveredBytes(type, body);
  // zlib.crc32 of an empty view of an empty array returns 0, not its initial value: skip empty bodies.
  return covered === 0 ? head : crc32(body.subarray(0, covered), head);
}

/** Everything a scenario may bend about one frame; by default a correct frame. */
export interface FrameOptions {
  /** Add the CHECKED flag and the CRC trailer (a version 3+ session after HELLO_ACCEPT). */
  readonly checked?: boolean;
  /** Flip bits of the trailer so the CRC fails. */
  readonly corruptCrc?: boolean;
  /** Flags byte as sent (overrides `checked`'s flag, not its trailer). */
  readonly flags?: number;
  readonly reserved?: number;
  /** bodyLength as declared in the header (default the body's length). */
  readonly declaredLength?: number;
}

/** One whole frame: header, body and, when checked, the trailer. */
export function frame(type: number, body: Uint8Array, o: FrameOptions = {}): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32LE(o.declaredLength ?? body.byteLength, 0);
  header.writeUInt8(type, 4);
  header.writeUInt8(o.flags ?? (o.checked ? FLAG_CHECKED : 0), 5);
  header.writeUInt16LE(o.reserved ?? 0, 6);
  if (!o.checked) return Buffer.concat([header, body]);
  const trailer = Buffer.alloc(TRAILER_BYTES);
  trailer.writeUInt32LE((frameCrc(header, type, body) ^ (o.corruptCrc ? 0x0000_8001 : 0)) >>> 0, 0);
  return Buffer.concat([header, body, trailer]);
}
