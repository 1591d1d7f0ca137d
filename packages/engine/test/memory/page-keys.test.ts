import { describe, expect, it } from 'vitest';
import { PageKeys } from '../../src/memory/page-keys.ts';

describe('PageKeys', () => {
  const keys = new PageKeys({
    pageSize: 4096,
    regions: [
      { name: 'a', sizeBytes: 3 * 4096 },
      { name: 'b', sizeBytes: 4096 },
      { name: 'c', sizeBytes: 5 * 4096 },
    ],
  });

  it('numbers pages across regions in order', () => {
    expect([keys.first(0), keys.first(1), keys.first(2)]).toEqual([0, 3, 4]);
    expect(keys.key(2, 4)).toBe(8);
    expect(keys.total).toBe(9);
  });

  it('locates every key back to its region and page', () => {
    const located = Array.from({ length: keys.total }, (_, k) => keys.locate(k));
    expect(located).toEqual([
      [0, 0],
      [0, 1],
      [0, 2],
      [1, 0],
      [2, 0],
      [2, 1],
      [2, 2],
      [2, 3],
      [2, 4],
    ]);
  });
});
