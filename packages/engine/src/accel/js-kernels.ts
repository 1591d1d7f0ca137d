import xxhash from 'xxhash-wasm';
import type { Kernels } from './kernels.ts';
import { checkHashInput, checkPageArgs } from './page-args.ts';
import { xbzrleDecode, xbzrleEncode } from './xbzrle.ts';

type H64Raw = (input: Uint8Array, seed?: bigint) => bigint;

/**
 * The TypeScript twin of `@ferry/native`: xxh64 from xxhash-wasm, a zero check over 32-bit
 * words, and the XBZRLE codec of `xbzrle.ts`. It is the reference the parity tests hold the
 * addon to, and the fallback where the addon is unavailable or disabled (`FERRY_NO_NATIVE=1`).
 *
 * One subarray view per page is the only allocation: xxhash-wasm hashes whole inputs only.
 */
export async function createJsKernels(): Promise<Kernels> {
  const { h64Raw } = await xxhash();
  const scanPages: Kernels['scanPages'] = (data, pageSize, hashesOut, zeroBitsOut) => {
    const pageCount = checkPageArgs(data, pageSize, hashesOut, zeroBitsOut);
    hashEachPage(h64Raw, data, pageSize, pageCount, hashesOut);
    return markZeroPages(data, pageSize, pageCount, zeroBitsOut);
  };
  return {
    name: 'js',
    hashPages(data, pageSize, out) {
      const pageCount = checkPageArgs(data, pageSize, out);
      hashEachPage(h64Raw, data, pageSize, pageCount, out);
    },
    scanPages,
    // xxhash-wasm has no xxh3: the fingerprint is xxh64 here.
    fingerprintPages: scanPages,
    xxh64(data) {
      checkHashInput(data);
      return h64Raw(data, 0n);
    },
    xbzrleEncode,
    xbzrleDecode,
  };
}

function hashEachPage(h64Raw: H64Raw, data: Uint8Array, pageSize: number, pageCount: number, out: BigUint64Array): void {
  for (let page = 0, at = 0; page < pageCount; page++, at += pageSize) {
    out[page] = h64Raw(data.subarray(at, at + pageSize), 0n);
  }
}

/**
 * Defines bits `0..pageCount` of `zeroBits` (set iff the page is all zero) and returns how
 * many pages are zero. Reads 32-bit words when pages are word-aligned, bytes otherwise; a
 * non-zero page usually stops at its first word.
 */
function markZeroPages(data: Uint8Array, pageSize: number, pageCount: number, zeroBits: Uint32Array): number {
  const aligned = data.byteOffset % 4 === 0 && pageSize % 4 === 0;
  const words = aligned ? new Uint32Array(data.buffer, data.byteOffset, data.byteLength / 4) : null;
  const pageWords = pageSize / 4;
  let zeroPages = 0;
  let bits = 0;
  for (let page = 0; page < pageCount; page++) {
    const zero = words === null ? bytesAreZero(data, page * pageSize, pageSize) : wordsAreZero(words, page * pageWords, pageWords);
    if (zero) {
      zeroPages++;
      bits |= 1 << (page & 31);
    }
    if ((page & 31) === 31) {
      zeroBits[page >>> 5] = bits;
      bits = 0;
    }
  }
  const tail = pageCount & 31;
  if (tail !== 0) {
    const word = pageCount >>> 5;
    const mask = 2 ** tail - 1;
    zeroBits[word] = ((zeroBits[word] ?? 0) & ~mask) | bits;
  }
  return zeroPages;
}

function wordsAreZero(words: Uint32Array, start: number, count: number): boolean {
  for (let i = start, end = start + count; i < end; i++) {
    if (words[i] !== 0) return false;
  }
  return true;
}

function bytesAreZero(bytes: Uint8Array, start: number, count: number): boolean {
  for (let i = start, end = start + count; i < end; i++) {
    if (bytes[i] !== 0) return false;
  }
  return true;
}
