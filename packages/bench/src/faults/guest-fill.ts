/** The guest's memory before a trial: a seeded share of its pages written with self-checking patterns. */
import type { GuestMemory } from '@ferry/engine';
import { writePattern } from '@ferry/engine/testing';
import type { Rng } from './rng.ts';

export function fillGuest(memory: GuestMemory, rng: Rng, fraction: number): void {
  memory.regions.forEach((r, ri) => {
    for (let p = 0; p < r.pageCount; p++) {
      if (rng.float() < fraction) writePattern(memory.page(ri, p), p, 1 + (rng.next() & 0xffff));
    }
  });
}
