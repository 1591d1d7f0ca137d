import { describe, expect, it } from 'vitest';
import { GuestMemory, migrate, probe, WriteBarrierTracker } from '../../src/index.ts';
import { makeTestPki } from '../../src/testing/index.ts';
import { listenSink } from '../helpers.ts';

const pki = makeTestPki();
const MiB = 1024 * 1024;

describe.skipIf(!pki)('mutual TLS (skipped: no openssl CLI to make test certificates)', () => {
  const p = pki!;
  const plane = { pause: () => {}, resume: () => {}, saveDeviceState: () => Uint8Array.of(1, 2, 3) };
  function guest(): GuestMemory {
    const m = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 4 * MiB }] });
    m.region(0).bytes.fill(0x42, 0, 2 * MiB);
    return m;
  }

  it('migrates over TLS when both certificates chain to the CA, byte-identical', async () => {
    const d = await listenSink({ tls: p.destination });
    const memory = guest();
    const report = await migrate({
      host: '127.0.0.1',
      port: d.port,
      memory,
      tracker: new WriteBarrierTracker(memory.layout),
      controlPlane: plane,
      tls: p.source,
    });
    const incoming = await d.result;
    expect(report.digest).toBe(incoming.digest);
    expect(Buffer.compare(incoming.memory.region(0).bytes, memory.region(0).bytes)).toBe(0);
  });

  it('turns away a source whose certificate comes from another CA, and a source without TLS, and keeps listening', async () => {
    const rejected: string[] = [];
    const d = await listenSink({
      tls: p.destination,
      onEvent: (e) => {
        if (e.type === 'rejected') rejected.push(e.code);
      },
    });
    const memory = guest();
    const stranger = await migrate({
      host: '127.0.0.1',
      port: d.port,
      memory,
      tracker: new WriteBarrierTracker(memory.layout),
      controlPlane: plane,
      tls: p.stranger,
    }).catch((e: unknown) => e);
    expect(stranger).toMatchObject({ name: 'MigrationError', code: 'FERRY_CONNECTION_LOST' });
    const plain = await migrate({
      host: '127.0.0.1',
      port: d.port,
      memory,
      tracker: new WriteBarrierTracker(memory.layout),
      controlPlane: plane,
      handshakeTimeoutMs: 2000,
    }).catch((e: unknown) => e);
    expect(plain).toMatchObject({ name: expect.stringMatching(/MigrationError|ProtocolError/) });
    expect(rejected.length).toBeGreaterThanOrEqual(1);
    // Still open for the real source.
    await expect(probe({ host: '127.0.0.1', port: d.port, layout: memory.layout, tls: p.source })).resolves.toMatchObject({
      accepted: true,
    });
    await d.close();
  });

  it('refuses to send to a destination whose certificate does not chain to the source CA', async () => {
    const impostor = await listenSink({
      tls: { ...p.stranger, ca: p.ca },
    });
    const memory = guest();
    const err = await migrate({
      host: '127.0.0.1',
      port: impostor.port,
      memory,
      tracker: new WriteBarrierTracker(memory.layout),
      controlPlane: plane,
      tls: p.source,
    }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FERRY_CONNECTION_LOST' });
    expect((err as Error).message).toMatch(/certificate|self.signed|unable/i);
    await impostor.close();
  });
});
