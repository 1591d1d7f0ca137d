import { describe, expect, it } from 'vitest';
import { DirtyBitmap } from '../../src/dirty/bitmap.ts';
import { PresenceMap } from '../../src/postcopy/presence.ts';

describe('the presence map', () => {
  it('counts missing pages exactly when a region is not a whole number of words', () => {
    const map = new PresenceMap([33, 64, 31]);
    expect(map.missingPages()).toBe(0);
    const missing = new DirtyBitmap(33);
    missing.set(0);
    missing.set(32);
    expect(map.markMissing(0, 0, missing)).toBe(2);
    expect(map.missingPages()).toBe(2);
    expect(map.has(0, 32)).toBe(false);
    map.markPresent(0, 32);
    expect(map.missingPages()).toBe(1);
  });
});
