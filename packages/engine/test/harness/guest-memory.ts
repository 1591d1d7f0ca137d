import { onTestFinished } from 'vitest';
import { GuestMemory, type RegionSpec } from '../../src/index.ts';
import { fillPages, type PageFill } from './page-fill.ts';

export const MiB = 1024 * 1024;

/** A region's size in bytes (named `ram0`, `ram1`, … by position), or a region with its own name. */
export type RegionShape = number | RegionSpec;

export interface GuestShape {
  /** Default 4096. */
  readonly pageSize?: number;
  /**
   * `shared` (default): `GuestMemory.create`. `mapped`: `GuestMemory.map` (anonymous memory the
   * addon maps, for `KernelWriteTracker` and userfaultfd), unmapped when the test finishes.
   */
  readonly backing?: 'shared' | 'mapped';
  /** Content written before the memory is returned; default none (all zero). */
  readonly fill?: PageFill;
}

/**
 * A guest's memory of the common shapes: `guestMemory(16 * MiB)`, `guestMemory([24 * MiB, 8 * MiB],
 * { fill: 'pattern' })`, `guestMemory(4 * MiB, { backing: 'mapped' })`.
 */
export function guestMemory(regions: RegionShape | readonly RegionShape[], shape: GuestShape = {}): GuestMemory {
  const list = (Array.isArray(regions) ? regions : [regions]) as readonly RegionShape[];
  const specs = list.map((r, i) => (typeof r === 'number' ? { name: `ram${i}`, sizeBytes: r } : r));
  const pageSize = shape.pageSize === undefined ? {} : { pageSize: shape.pageSize };
  let memory: GuestMemory;
  if (shape.backing === 'mapped') {
    memory = GuestMemory.map({ ...pageSize, regions: specs });
    onTestFinished(() => memory.unmap());
  } else {
    memory = GuestMemory.create({ ...pageSize, regions: specs });
  }
  const fill = shape.fill;
  if (fill !== undefined) {
    if (typeof fill === 'string') fillPages(memory, fill);
    else fillPages(memory, fill.content, fill);
  }
  return memory;
}
