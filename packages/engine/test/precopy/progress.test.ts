import { describe, expect, it } from 'vitest';
import type { MigrationEvent } from '../../src/index.ts';
import { MiB, migrationPair } from '../harness/index.ts';

describe('progress events', () => {
  it('never run backwards, and a round counts down what it has left to send', async () => {
    const pair = await migrationPair({ memory: 16 * MiB, fill: 'pattern', guest: { pagesPerSec: 2000 } });
    const events: MigrationEvent[] = [];
    // 16 MiB at 40 MB/s: round 0 takes about 0.4 s, several progress events.
    await pair.migrate({
      maxBandwidth: 40e6,
      maxDowntimeMs: 50,
      verify: 'sent',
      onEvent: (e) => events.push(e),
    });
    await pair.destination.result;
    await pair.close();
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
