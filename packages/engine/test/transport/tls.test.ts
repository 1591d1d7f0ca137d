import { describe, expect, it } from 'vitest';
import { type GuestMemory, probe } from '../../src/index.ts';
import { makeTestPki } from '../../src/testing/index.ts';
import { expectSameMemory, guestMemory, listenSink, MiB, sourceHost } from '../harness/index.ts';

const pki = makeTestPki();

describe.skipIf(!pki)('mutual TLS (skipped: no openssl CLI to make test certificates)', () => {
  const p = pki!;
  const deviceState = Uint8Array.of(1, 2, 3);
  function guest(): GuestMemory {
    const m = guestMemory(4 * MiB);
    m.region(0).bytes.fill(0x42, 0, 2 * MiB);
    return m;
  }

  it('migrates over TLS when both certificates chain to the CA, byte-identical', async () => {
    const d = await listenSink({ tls: p.destination });
    const source = await sourceHost({ memory: guest(), deviceState });
    const report = await source.migrateTo(d.port, { tls: p.source });
    const incoming = await d.result;
    expect(report.digest).toBe(incoming.digest);
    expectSameMemory(incoming.memory, source.memory);
    expect(d.plane.loaded).toEqual([deviceState]);
  });

  it('turns away a source whose certificate comes from another CA, and a source without TLS, and keeps listening', async () => {
    const d = await listenSink({ tls: p.destination });
    const source = await sourceHost({ memory: guest(), deviceState });
    const memory = source.memory;
    const stranger = await source.migrateTo(d.port, { tls: p.stranger }).catch((e: unknown) => e);
    expect(stranger).toMatchObject({ name: 'MigrationError', code: 'FERRY_CONNECTION_LOST' });
    const plain = await source.migrateTo(d.port, { handshakeTimeoutMs: 2000 }).catch((e: unknown) => e);
    expect(plain).toMatchObject({ name: expect.stringMatching(/MigrationError|ProtocolError/) });
    expect(d.rejected().length).toBeGreaterThanOrEqual(1);
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
    const source = await sourceHost({ memory: guest(), deviceState });
    const err = await source.migrateTo(impostor.port, { tls: p.source }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FERRY_CONNECTION_LOST' });
    expect((err as Error).message).toMatch(/certificate|self.signed|unable/i);
    await impostor.close();
  });
});
