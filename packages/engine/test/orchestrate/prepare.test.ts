import { describe, expect, it } from 'vitest';
import type { FerryError, GuestMemory } from '../../src/index.ts';
import { expectSameMemory, MiB, migrationPair } from '../harness/index.ts';

describe("the destination's prepare hook", () => {
  it('prepares the guest on its memory while pre-copy runs, before the device state and the resume', async () => {
    const calls: string[] = [];
    let prepared: GuestMemory | undefined;
    const pair = await migrationPair({
      memory: 8 * MiB,
      fill: 'pattern',
      guest: { pagesPerSec: 2_000 },
      destination: {
        controlPlane: {
          prepare: async (memory) => {
            calls.push('prepare');
            await new Promise((r) => setTimeout(r, 50));
            prepared = memory;
            calls.push('prepared');
          },
          loadDeviceState: () => {
            calls.push('loadDeviceState');
          },
          resume: () => {
            calls.push('resume');
          },
        },
      },
    });
    await pair.migrate();
    const incoming = await pair.destination.result;
    expect(calls).toEqual(['prepare', 'prepared', 'loadDeviceState', 'resume']);
    expect(prepared).toBe(incoming.memory);
    expectSameMemory(incoming.memory, pair.memory);
  });

  it('fails the migration at once when it throws, and the source guest runs on', async () => {
    const pair = await migrationPair({
      memory: 8 * MiB,
      fill: 'pattern',
      destination: {
        controlPlane: {
          prepare: () => {
            throw new Error('no VMM binary on this host');
          },
        },
      },
    });
    const err = (await pair.migrate().catch((e: unknown) => e)) as FerryError;
    expect(err.message).toContain('no VMM binary on this host');
    await expect(pair.destination.result).rejects.toMatchObject({ code: 'FERRY_CONTROL_PLANE_FAILED' });
    expect(pair.plane.calls).not.toContain('release');
  });
});
