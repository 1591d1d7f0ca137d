import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { ErrorCode, type FerryError, type MigrationStatus, startMigration } from '../../src/index.ts';
import { fillPages, guestMemory, MiB, migrationPair, sourceHost } from '../harness/index.ts';

/** A port nobody listens on: bound, then closed. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('startMigration', () => {
  it('counts the zero pages round 0 leaves out', async () => {
    const memory = guestMemory(8 * MiB);
    const zero = fillPages(memory, 'mixed').zeroPages();
    const pair = await migrationPair({ memory });
    const report = await pair.migrate();
    expect(zero.size).toBe(256); // every eighth page of 2048
    expect(report.rounds[0]!.zeroPages).toBe(zero.size);
    expect(report.rounds[0]!.pagesSent).toBe(2048 - zero.size);
  });

  it('answers status() while it runs: phase, round, bytes and rates moving forward, and the report at the end', async () => {
    const pair = await migrationPair({ memory: 32 * MiB, fill: 'random', guest: { pagesPerSec: 5_000, workingSetFraction: 0.1 } });
    const handle = startMigration({
      host: '127.0.0.1',
      port: pair.destination.port,
      memory: pair.memory,
      tracker: pair.tracker,
      controlPlane: pair.plane,
      // About a second of round 0: long enough to be seen running.
      maxBandwidth: 32e6,
      maxDowntimeMs: 100,
    });
    const first = handle.status();
    expect(first.phase).toBe('connecting');
    expect(first.round).toBe(-1);
    expect(first.bytesSent).toBe(0);
    const seen: MigrationStatus[] = [first];
    const poll = setInterval(() => seen.push(handle.status()), 20);
    const report = await handle.result.finally(() => clearInterval(poll));
    const last = handle.status();
    seen.push(last);
    // Never backwards.
    for (let i = 1; i < seen.length; i++) {
      expect(seen[i]!.bytesSent).toBeGreaterThanOrEqual(seen[i - 1]!.bytesSent);
      expect(seen[i]!.elapsedMs).toBeGreaterThanOrEqual(seen[i - 1]!.elapsedMs);
      expect(seen[i]!.round).toBeGreaterThanOrEqual(seen[i - 1]!.round);
    }
    const inRoundZero = seen.filter((s) => s.phase === 'precopy' && s.round === 0 && s.roundPagesSent > 0);
    expect(inRoundZero.length).toBeGreaterThan(2);
    expect(inRoundZero.some((s) => s.bandwidthBytesPerSec > 0 && s.roundRemainingBytes > 0)).toBe(true);
    expect(last.phase).toBe('completed');
    expect(last.rounds).toEqual(report.rounds);
    expect(last.bytesSent).toBe(report.bytesSent);
    expect(last.pagesSent).toBe(report.rounds.reduce((n, r) => n + r.pagesSent, 0));
    expect(last.switchoverReason).toBeDefined();
    expect(last.prediction?.totalMs).toBe(report.rounds.at(-1)!.predictedDowntimeMs);
    await pair.destination.result;
  });

  it('cancel() stops it before COMMIT: the guest runs on here, and the error carries what was done', async () => {
    const pair = await migrationPair({ memory: 32 * MiB, fill: 'random', guest: { pagesPerSec: 2_000 } });
    const handle = startMigration({
      host: '127.0.0.1',
      port: pair.destination.port,
      memory: pair.memory,
      tracker: pair.tracker,
      controlPlane: pair.plane,
      maxBandwidth: 16e6,
    });
    while (handle.status().bytesSent < 2 * MiB) await new Promise((r) => setTimeout(r, 10));
    handle.cancel();
    handle.cancel();
    const error = (await handle.result.catch((e: unknown) => e)) as FerryError;
    expect(error.code).toBe(ErrorCode.ABORTED);
    const report = error.report!;
    expect(report).toBeDefined();
    expect(report.outcome).toBe('failed');
    expect(report.failedIn).toBe('precopy');
    expect(report.code).toBe(ErrorCode.ABORTED);
    expect(report.guestResumed).toBe(true);
    expect(report.round).toBe(0);
    expect(report.bytesSent).toBeGreaterThanOrEqual(2 * MiB);
    expect(report.kernels).toBeDefined();
    expect(report.memoryBytes).toBe(32 * MiB);
    // The report is on the error without being printed with it.
    expect(Object.keys(error)).not.toContain('report');
    expect(pair.guest.paused).toBe(false);
    expect(handle.status().phase).toBe('failed');
  });

  it('ignores cancel() once COMMIT is sent: the destination may run the guest, so the migration completes', async () => {
    const pair = await migrationPair({ memory: 8 * MiB, fill: 'random' });
    const holder: { handle?: ReturnType<typeof startMigration> } = {};
    holder.handle = startMigration({
      host: '127.0.0.1',
      port: pair.destination.port,
      memory: pair.memory,
      tracker: pair.tracker,
      controlPlane: pair.plane,
      onEvent: (e) => {
        if (e.type === 'phase' && e.to === 'committed') holder.handle!.cancel();
      },
    });
    const report = await holder.handle.result;
    expect(report.outcome).toBe('completed');
    expect(pair.plane.released).toBe(true);
    expect((await pair.destination.result).digest).toBe(report.digest);
  });

  it('gives a report for a failure to connect too, and throws synchronously for options that cannot run', async () => {
    const source = await sourceHost({ memory: 4 * MiB });
    const port = await closedPort();
    const error = (await startMigration({
      host: '127.0.0.1',
      port,
      memory: source.memory,
      tracker: source.tracker,
      controlPlane: source.plane,
    }).result.catch((e: unknown) => e)) as FerryError;
    expect(error.code).toBe(ErrorCode.CONNECT_FAILED);
    expect(error.report).toMatchObject({ failedIn: 'connecting', round: -1, bytesSent: 0, pagesSent: 0, guestResumed: true });
    expect(() =>
      startMigration({ host: '127.0.0.1', port, memory: source.memory, tracker: source.tracker, controlPlane: source.plane, channels: 0 }),
    ).toThrow(expect.objectContaining({ code: ErrorCode.INVALID_ARGUMENT }));
  });
});
