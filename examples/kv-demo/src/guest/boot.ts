import { randomFillSync } from 'node:crypto';
import type { WriteBarrier } from '@ferry/engine/guest';
import { type KvLayout, kvLayout, writeSuperblock } from './layout.ts';
import type { Registers } from './registers.ts';

const FILL_CHUNK_BYTES = 16 * 1024 * 1024;

/**
 * Boots a fresh guest over zeroed memory: writes the superblock and fills the data area, as a
 * booted system has its memory in use (page cache, other programs' heaps). Returns the layout
 * and the first registers.
 */
export function bootGuest(mem: Uint8Array, barrier: WriteBarrier): { layout: KvLayout; regs: Registers } {
  const layout = kvLayout(mem.byteLength);
  const view = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);
  barrier.markRange(0, 0, writeSuperblock(view, layout));
  for (let at = layout.dataOffset; at < mem.byteLength; at += FILL_CHUNK_BYTES) {
    const length = Math.min(FILL_CHUNK_BYTES, mem.byteLength - at);
    randomFillSync(mem, at, length);
    barrier.markRange(0, at, length);
  }
  const rng = (Math.random() * 0xffff_ffff) >>> 0 || 1;
  return { layout, regs: { generation: 1, heapTop: 0, keys: 0, sets: 0, gets: 0, churnOps: 0, logHead: 0, rng } };
}
