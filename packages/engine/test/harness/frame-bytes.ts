/**
 * The byte length of the whole frame at the start of `pending` (8-byte header: u32 body length,
 * u8 type, u8 flags; a 4-byte CRC trailer when CHECKED, version 3+), or undefined until all of it has arrived.
 */
export function wholeFrameLength(pending: Buffer): number | undefined {
  if (pending.byteLength < 8) return undefined;
  const length = 8 + pending.readUInt32LE(0) + ((pending[5]! & 1) === 1 ? 4 : 0);
  return pending.byteLength < length ? undefined : length;
}
