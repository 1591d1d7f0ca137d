import type { DirtyBitmap } from '../../src/index.ts';

/** The indices of the set bits of `bitmap`, in order: a bitmap as a value to compare. */
export function setBits(bitmap: DirtyBitmap): number[] {
  const out: number[] = [];
  for (let i = bitmap.nextSet(0); i >= 0; i = bitmap.nextSet(i + 1)) out.push(i);
  return out;
}
