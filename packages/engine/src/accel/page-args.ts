import { ErrorCode, UsageError } from '../errors.ts';

/** The largest page size, and the largest page count, one kernel call accepts. */
export const MAX_KERNEL_PAGE_SIZE = 0xffff_ffff;
export const MAX_KERNEL_PAGES = 0xffff_ffff;

/**
 * Checks the arguments of `hashPages`/`scanPages` the way the native addon does, and returns
 * the page count. Both kernel implementations call it first, so they reject the same calls
 * with the same `UsageError`.
 */
export function checkPageArgs(data: Uint8Array, pageSize: number, hashesOut: BigUint64Array, zeroBitsOut?: Uint32Array): number {
  if (!(data instanceof Uint8Array)) throw invalid('data must be a Uint8Array');
  if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > MAX_KERNEL_PAGE_SIZE) {
    throw invalid(`pageSize must be an integer in [1, 2^32), got ${String(pageSize)}`);
  }
  const byteLength = data.byteLength;
  if (byteLength % pageSize !== 0) {
    throw invalid(`data.byteLength ${byteLength} is not a multiple of pageSize ${pageSize}`);
  }
  const pageCount = byteLength / pageSize;
  if (pageCount > MAX_KERNEL_PAGES) throw invalid(`data holds more than 2^32 - 1 pages`);
  if (!(hashesOut instanceof BigUint64Array)) throw invalid('hashes output must be a BigUint64Array');
  if (hashesOut.length < pageCount) {
    throw invalid(`hashes output holds ${hashesOut.length} words, need ${pageCount}`);
  }
  if (zeroBitsOut !== undefined) {
    if (!(zeroBitsOut instanceof Uint32Array)) throw invalid('zero bitmap must be a Uint32Array');
    const words = Math.ceil(pageCount / 32);
    if (zeroBitsOut.length < words) {
      throw invalid(`zero bitmap holds ${zeroBitsOut.length} words, need ${words}`);
    }
  }
  return pageCount;
}

/** Checks the argument of `xxh64`. */
export function checkHashInput(data: Uint8Array): void {
  if (!(data instanceof Uint8Array)) throw invalid('data must be a Uint8Array');
}

function invalid(message: string): UsageError {
  return new UsageError(ErrorCode.INVALID_ARGUMENT, message);
}
