import { describe, expect, it } from 'vitest';
import { GuestMemory, MigrationDestination, migrate, WriteBarrierTracker, type MigrationEvent } from '../../src/index.ts';
import { findTornPages, WriterGuest } from '../../src/testing/index.ts';

const MiB = 1024 * 1024;

describe('migrate', () => {
  it('moves 64 MiB with a guest writing throughout and ends byte-identical', async () => {
    const source = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 48 * MiB }, { name: 'ram1', sizeBytes: 16 * MiB }] });
    const tracker = new WriteBarrierTracker(source.layout);
    const guest = new WriterGuest(source, tracker, { pagesPerSec: 20_000, workingSetFraction: 0.25 });
    let destMemory: GuestMemory | undefined;
    let loadedState: Uint8Array | undefined;
    const destination = await MigrationDestination.listen({
      controlPlane: {
        loadDeviceState: (state) => {
          loadedState = state.slice();
        },
        resume: (memory) => {
          destMemory = memory;
        },
      },
    });
    const events: MigrationEvent[] = [];
    const plane = guest.controlPlane();
    // Let the guest dirty memory before the migration starts.
    await guest.ready;
    await new Promise((r) => setTimeout(r, 200));
    const report = await migrate({
      host: '127.0.0.1',
      port: destination.port,
      memory: source,
      tracker,
      controlPlane: plane,
      maxDowntimeMs: 50,
      onEvent: (e) => events.push(e),
    });
    const incoming = await destination.result;
    expect(guest.paused).toBe(true);
    expect(plane.released).toBe(true);
    expect(destMemory).toBe(incoming.memory);
    for (let r = 0; r < source.regions.length; r++) {
      expect(Buffer.compare(source.regions[r]!.bytes, incoming.memory.regions[r]!.bytes)).toBe(0);
    }
    expect(findTornPages(incoming.memory)).toEqual([]);
    expect(guest.writes).toBeGreaterThan(1000);
    expect(loadedState).toEqual(plane.saveDeviceState());
    expect(report.outcome).toBe('completed');
    expect(report.digest).toBe(incoming.digest);
    expect(report.rounds.length).toBeGreaterThanOrEqual(2);
    expect(report.downtimeMs).toBeGreaterThan(0);
    expect(events.some((e) => e.type === 'round-end')).toBe(true);
    await guest.stop();
  });
});
