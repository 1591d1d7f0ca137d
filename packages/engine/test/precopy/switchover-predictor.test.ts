import { describe, expect, it } from 'vitest';
import type { MigrationEvent } from '../../src/index.ts';
import { MiB, migrationPair } from '../harness/index.ts';

describe('downtime prediction inputs', () => {
  it('counts the expected device state, sent while paused, in the predicted downtime', async () => {
    const pair = await migrationPair({ memory: 4 * MiB, fill: 'pattern', deviceState: new Uint8Array(16) });
    const switchovers: MigrationEvent[] = [];
    await pair.migrate({
      maxBandwidth: 100e6,
      // 50 MB over at most 100 MB/s: at least 500 ms, more than the 300 ms limit.
      deviceStateBytes: 50e6,
      maxRounds: 2,
      // The fixed part alone is over the limit: pause anyway, as asked.
      onWontConverge: 'switchover',
      onEvent: (e) => {
        if (e.type === 'switchover') switchovers.push(e);
      },
    });
    await pair.destination.result;
    const s = switchovers[0] as Extract<MigrationEvent, { type: 'switchover' }>;
    expect(s.predictedDowntimeMs).toBeGreaterThanOrEqual(500);
    expect(s.reason).not.toBe('converged');
  });
});
