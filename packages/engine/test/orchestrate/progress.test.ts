import { describe, expect, it } from 'vitest';
import { GuestMemory, type MigrationEvent, migrate, WriteBarrierTracker } from '../../src/index.ts';
import { WriterGuest, writePattern } from '../../src/testing/index.ts';
import { listenSink } from '../helpers.ts';

const MiB = 1024 * 1024;

describe('progress events', () => {
  it('never run backwards, and a round counts down what it has left to send', async () => {
    const source = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 16 * MiB }] });
    for (let p = 0; p < source.region(0).pageCount; p++) writePattern(source.page(0, p), p, 1);
    const tracker = new WriteBarrierTracker(source.layout);
    const guest = new WriterGuest(source, tracker, { pagesPerSec: 2000 });
    await guest.ready;
    const destination = await listenSink();
    const events: MigrationEvent[] = [];
    // 16 MiB at 40 MB/s: round 0 takes about 0.4 s, several progress events.
    await migrate({
      host: '127.0.0.1',
      port: destination.port,
      memory: source,
      tracker,
      controlPlane: guest.controlPlane(),
      maxBandwidth: 40e6,
      maxDowntimeMs: 50,
      verify: 'sent',
      onEvent: (e) => events.push(e),
    });
    await destination.result;
    await guest.stop();
    const progress = events.filter((e): e is Extract<MigrationEvent, { type: 'progress' }> => e.type === 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < progress.length; i++) {
      const [a, b] = [progress[i - 1]!, progress[i]!];
      expect(b.totalBytesSent).toBeGreaterThanOrEqual(a.totalBytesSent);
      if (a.round === b.round) {
        expect(b.pagesSent).toBeGreaterThanOrEqual(a.pagesSent);
        expect(b.roundRemainingBytes).toBeLessThanOrEqual(a.roundRemainingBytes);
      }
    }
    for (const p of progress) {
      expect(p.roundRemainingBytes).toBeGreaterThanOrEqual(0);
      expect(Number.isFinite(p.roundEtaMs)).toBe(true);
      expect(p.bandwidthBytesPerSec).toBeGreaterThan(0);
    }
  });
});
