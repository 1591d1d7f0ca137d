import { describe, expect, it } from 'vitest';
import { rehearseSwitchover } from '../../src/session/rehearsal.ts';

describe('rehearseSwitchover', () => {
  it('runs the switchover codecs over a layout of several regions without sending or throwing', () => {
    const layout = {
      pageSize: 4096,
      regions: [
        { name: 'ram0', sizeBytes: 64 * 4096 },
        { name: 'ram1', sizeBytes: 100 * 4096 },
      ],
    };
    expect(rehearseSwitchover(layout)).toBe(164);
  });
  it('bounds its work on a huge guest (a 1 TiB region is rehearsed on its first 4 GiB)', () => {
    expect(rehearseSwitchover({ pageSize: 4096, regions: [{ name: 'ram0', sizeBytes: 2 ** 40 }] })).toBe(2 ** 20);
  });
});
