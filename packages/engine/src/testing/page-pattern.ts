/**
 * Self-checking page contents for test guests. A written page holds its own index and a
 * version in its first 8 bytes and a pattern derived from both in the rest, so any page can
 * be checked on its own: a torn or misplaced page fails, a never-written page is all zero.
 */

export function writePattern(page: Uint8Array, pageIndex: number, version: number): void {
  const words = new Uint32Array(page.buffer, page.byteOffset, page.byteLength >>> 2);
  words[0] = pageIndex;
  words[1] = version;
  let x = (Math.imul(pageIndex ^ 0x9e37_79b9, 0x85eb_ca6b) ^ Math.imul(version, 0xc2b2_ae35)) | 1;
  for (let i = 2; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
}

/** True when `page` is all zero or a whole, untorn pattern for `pageIndex`. */
export function checkPattern(page: Uint8Array, pageIndex: number): boolean {
  const words = new Uint32Array(page.buffer, page.byteOffset, page.byteLength >>> 2);
  if (words.every((w) => w === 0)) return true;
  if (words[0] !== pageIndex) return false;
  const version = words[1]!;
  let x = (Math.imul(pageIndex ^ 0x9e37_79b9, 0x85eb_ca6b) ^ Math.imul(version, 0xc2b2_ae35)) | 1;
  for (let i = 2; i < words.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    if (words[i] !== x >>> 0) return false;
  }
  return true;
}
