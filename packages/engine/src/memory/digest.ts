import type { Kernels } from '../accel/kernels.ts';
import type { GuestMemory } from './guest-memory.ts';
import { PageKeys } from './page-keys.ts';

/** Pages hashed per kernel call: keeps each call short and lets two run at once off-thread. */
const DIGEST_CHUNK_PAGES = 8192;

/**
 * The memory digest (every protocol version): xxh64 (seed 0) over the concatenation of the u64
 * little-endian xxh64 of every page of every region, in region and page order. A digest is
 * computed from a page-hash table: one word per page, regions back to back.
 */
export function digestOfPageHashes(table: BigUint64Array, kernels: Kernels): bigint {
  // BigUint64Array words are native-endian; every platform Ferry supports is little-endian.
  return kernels.xxh64(new Uint8Array(table.buffer, table.byteOffset, table.byteLength));
}

/** Hashes every page of `memory` into a new page-hash table. */
export function hashMemory(memory: GuestMemory, kernels: Kernels): BigUint64Array {
  const table = new BigUint64Array(memory.totalPages);
  for (const { bytes, out } of chunks(memory, table)) kernels.hashPages(bytes, memory.pageSize, out);
  return table;
}

/**
 * `hashMemory` that reads only pages that may hold data: in anonymous memory the addon mapped,
 * a page that was never touched is not resident and is zero, so its entry is `zeroPageHash`
 * without reading it (reading would map the zero page into it, and dropping such mappings
 * again for userfaultfd post-copy costs in proportion). Other memory is hashed whole.
 */
export function hashMemorySparse(memory: GuestMemory, kernels: Kernels, zeroPageHash: bigint): BigUint64Array {
  const table = new BigUint64Array(memory.totalPages);
  const ps = memory.pageSize;
  const keys = new PageKeys(memory.layout);
  for (const [r, region] of memory.regions.entries()) {
    const out = table.subarray(keys.first(r), keys.first(r) + region.pageCount);
    const resident = new Uint32Array(Math.ceil(region.pageCount / 32));
    let known = false;
    try {
      region.mapping?.residentPages(ps, resident);
      known = region.mapping !== undefined;
    } catch {
      // Not anonymous memory: read it all.
    }
    if (!known) {
      kernels.hashPages(region.bytes, ps, out);
    } else {
      out.fill(zeroPageHash);
      const isResident = (p: number): boolean => (resident[p >>> 5]! & (1 << (p & 31))) !== 0;
      // One kernel call per run of resident pages; empty words are skipped whole.
      for (let p = 0; p < region.pageCount; ) {
        if (!isResident(p)) {
          p = resident[p >>> 5] === 0 ? (p | 31) + 1 : p + 1;
          continue;
        }
        let end = p + 1;
        while (end < region.pageCount && isResident(end)) end++;
        kernels.hashPages(region.bytes.subarray(p * ps, end * ps), ps, out.subarray(p, end));
        p = end;
      }
    }
  }
  return table;
}

/** `hashMemory` on the addon's thread pool when it has one, leaving the event loop free. */
export async function hashMemoryAsync(memory: GuestMemory, kernels: Kernels): Promise<BigUint64Array> {
  if (!kernels.hashPagesAsync) return hashMemory(memory, kernels);
  const table = new BigUint64Array(memory.totalPages);
  const work = [...chunks(memory, table)];
  // Two at a time: one per core of a small host, without starving the pool of other work.
  const run = async (): Promise<void> => {
    for (let job = work.shift(); job; job = work.shift()) await kernels.hashPagesAsync!(job.bytes, memory.pageSize, job.out);
  };
  await Promise.all([run(), run()]);
  return table;
}

/**
 * Digest of `memory` as it is now, computed from the bytes themselves: on the source it
 * catches a write the dirty tracker missed, not only corruption on the wire.
 */
export function memoryDigest(memory: GuestMemory, kernels: Kernels): bigint {
  return digestOfPageHashes(hashMemory(memory, kernels), kernels);
}

export async function memoryDigestAsync(memory: GuestMemory, kernels: Kernels): Promise<bigint> {
  return digestOfPageHashes(await hashMemoryAsync(memory, kernels), kernels);
}

function* chunks(memory: GuestMemory, table: BigUint64Array): Generator<{ bytes: Uint8Array; out: BigUint64Array }> {
  let at = 0;
  for (const region of memory.regions) {
    for (let first = 0; first < region.pageCount; first += DIGEST_CHUNK_PAGES) {
      const count = Math.min(DIGEST_CHUNK_PAGES, region.pageCount - first);
      yield {
        bytes: region.bytes.subarray(first * memory.pageSize, (first + count) * memory.pageSize),
        out: table.subarray(at, at + count),
      };
      at += count;
    }
  }
}
