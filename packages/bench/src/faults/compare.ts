/** Byte-for-byte comparison of the destination's guest against the source's frozen one. */
import type { Comparison } from './observation.ts';

export interface GuestImage {
  readonly pageSize: number;
  readonly regions: readonly { readonly name: string; readonly bytes: Uint8Array }[];
  readonly deviceState: Uint8Array;
  readonly guestId: string;
}

export function compareGuests(source: GuestImage, destination: GuestImage): Comparison {
  const identityIdentical =
    source.pageSize === destination.pageSize &&
    source.guestId === destination.guestId &&
    source.regions.length === destination.regions.length &&
    source.regions.every(
      (r, i) => r.name === destination.regions[i]?.name && r.bytes.byteLength === destination.regions[i]?.bytes.byteLength,
    );
  let firstDifference: { region: number; page: number } | undefined;
  source.regions.forEach((r, i) => {
    const other = destination.regions[i]?.bytes;
    if (firstDifference || !other) return;
    const a = Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength);
    const b = Buffer.from(other.buffer, other.byteOffset, other.byteLength);
    if (a.equals(b)) return;
    const n = Math.min(a.byteLength, b.byteLength);
    for (let at = 0; at < n; at += source.pageSize) {
      if (!a.subarray(at, at + source.pageSize).equals(b.subarray(at, at + source.pageSize))) {
        firstDifference = { region: i, page: at / source.pageSize };
        return;
      }
    }
    firstDifference = { region: i, page: Math.floor(n / source.pageSize) };
  });
  return {
    memoryIdentical: firstDifference === undefined && source.regions.length === destination.regions.length,
    ...(firstDifference && { firstDifference }),
    deviceStateIdentical: Buffer.from(source.deviceState).equals(Buffer.from(destination.deviceState)),
    identityIdentical,
  };
}
