import type { Kernels } from '../accel/kernels.ts';
import type { GuestMemory } from './guest-memory.ts';

/** Pages hashed per kernel call: bounds the scratch array and keeps each call short. */
const DIGEST_CHUNK_PAGES = 4096;

/**
 * The memory digest of protocol v1: xxh64 (seed 0) over the concatenation of the u64
 * little-endian xxh64 of every page of every region, in region and page order. Both sides
 * compute it from memory itself, so it catches a dirty page the tracker missed, not only
 * corruption on the wire.
 */
export function memoryDigest(memory: GuestMemory, kernels: Kernels): bigint {
  const pageHashes = new BigUint64Array(memory.totalPages);
  let at = 0;
  for (const region of memory.regions) {
    for (let first = 0; first < region.pageCount; first += DIGEST_CHUNK_PAGES) {
      const count = Math.min(DIGEST_CHUNK_PAGES, region.pageCount - first);
      const bytes = region.bytes.subarray(first * memory.pageSize, (first + count) * memory.pageSize);
      kernels.hashPages(bytes, memory.pageSize, pageHashes.subarray(at, at + count));
      at += count;
    }
  }
  // BigUint64Array stores native-endian words; every platform Node supports for Ferry is LE.
  return kernels.xxh64(new Uint8Array(pageHashes.buffer, 0, pageHashes.byteLength));
}
