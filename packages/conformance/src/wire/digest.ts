import type { Kernels } from '@ferry/engine';

/** The memory digest of §4: xxh64 over the u64le xxh64 of every page, regions in order. */
export function memoryDigest(k: Kernels, memory: readonly Uint8Array[], pageSize: number): bigint {
  const table = new BigUint64Array(memory.reduce((n, m) => n + m.byteLength / pageSize, 0));
  let at = 0;
  for (const m of memory) {
    const n = m.byteLength / pageSize;
    k.hashPages(m, pageSize, table.subarray(at, at + n));
    at += n;
  }
  return k.xxh64(new Uint8Array(table.buffer));
}
