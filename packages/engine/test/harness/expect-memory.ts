import { expect } from 'vitest';
import type { GuestMemory } from '../../src/index.ts';

/** Asserts that `actual` has the layout of `expected` and the same bytes in every region. */
export function expectSameMemory(actual: GuestMemory, expected: GuestMemory): void {
  expect(actual.layout).toEqual(expected.layout);
  for (let r = 0; r < expected.regions.length; r++) {
    // Buffer.compare, not toEqual: a diff of megabytes helps nobody, and it is slow.
    expect(Buffer.compare(actual.region(r).bytes, expected.region(r).bytes), `region ${r} differs`).toBe(0);
  }
}
