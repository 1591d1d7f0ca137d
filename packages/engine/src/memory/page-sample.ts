import type { Kernels } from '../accel/kernels.ts';
import type { GuestMemory } from './guest-memory.ts';

/**
 * Visits about `samples` pages spread evenly over the whole guest (every region), with whether
 * each is all zero (the zero-page kernel): how the planner and hybrid's look before round 0
 * estimate what round 0 will send without reading all memory.
 */
export function samplePages(
  memory: GuestMemory,
  kernels: Kernels,
  samples: number,
  visit: (bytes: Uint8Array, zero: boolean) => void,
): void {
  const total = memory.totalPages;
  const step = Math.max(1, Math.floor(total / samples));
  const hash = new BigUint64Array(1);
  const zeroBit = new Uint32Array(1);
  for (let key = 0; key < total; key += step) {
    let r = 0;
    let page = key;
    while (page >= memory.regions[r]!.pageCount) page -= memory.regions[r++]!.pageCount;
    const bytes = memory.page(r, page);
    visit(bytes, kernels.scanPages(bytes, memory.pageSize, hash, zeroBit) === 1);
  }
}

/** The share of sampled pages that are not all zero (1 for a guest with no pages). */
export function nonZeroFraction(memory: GuestMemory, kernels: Kernels, samples: number): number {
  let sampled = 0;
  let nonZero = 0;
  samplePages(memory, kernels, samples, (_bytes, zero) => {
    sampled++;
    if (!zero) nonZero++;
  });
  return sampled ? nonZero / sampled : 1;
}
