import { GuestMemory, MigrationDestination, startMigration, WriteBarrierTracker } from '@ferry/engine';
import { afterEach, describe, expect, it } from 'vitest';
import { type ConsoleBackend, ConsoleServer, MigrationFollower, readEvents } from '../src/index.ts';

const backend: ConsoleBackend = {
  snapshot: () => ({ hosts: [], maxDowntimeMs: 300, actions: [], migration: 'idle' }),
  act: async () => null,
};

let server: ConsoleServer | undefined;
afterEach(async () => {
  await server?.close();
});

describe('MigrationFollower', () => {
  it("publishes a real migration's events and status() samples in the topics the page draws", async () => {
    server = await ConsoleServer.listen({ backend });
    const follower = new MigrationFollower(server);
    const destination = await MigrationDestination.listen({
      host: '127.0.0.1',
      controlPlane: { loadDeviceState: () => {}, resume: () => {} },
    });
    const memory = GuestMemory.create({ regions: [{ name: 'ram', sizeBytes: 8 * 2 ** 20 }] });
    memory.region(0).bytes.fill(7, 0, 2 ** 20);
    const handle = startMigration({
      host: '127.0.0.1',
      port: destination.port,
      memory,
      tracker: new WriteBarrierTracker(memory.layout),
      controlPlane: { pause: () => {}, resume: () => {}, saveDeviceState: () => new Uint8Array(8) },
      onEvent: follower.onEvent,
    });
    await follower.follow(handle, 5);
    await destination.result;
    const stream = await readEvents(server.url, '"status":{"phase":"completed"');
    expect(stream).toContain('"type":"completed"');
    expect(stream).toContain('event: migration\ndata: {"t":');
    expect(stream).toContain('"type":"round-end"');
    expect(stream).toMatch(/event: status\ndata: \{"t":[\d.]+,"status":\{"phase":"completed"/);
  });
});
