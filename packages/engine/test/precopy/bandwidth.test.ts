import { describe, expect, it } from 'vitest';
import { Pacer } from '../../src/index.ts';
import { MiB, migrationPair } from '../harness/index.ts';

describe('bandwidth', () => {
  it('switches to the switchover cap for the final round, and reports bytes per second', async () => {
    const pair = await migrationPair({ memory: 32 * MiB, fill: 'pattern', guest: { pagesPerSec: 2_000, workingSetFraction: 0.1 } });
    const pacer = new Pacer(20e6);
    const rates: number[] = [];
    const report = await pair.migrate({
      maxBandwidth: pacer,
      switchoverBandwidth: 0,
      onEvent: (e) => {
        if (e.type === 'round-start') rates.push(pacer.rate);
      },
    });
    await pair.destination.result;
    await pair.close();
    // Pre-copy rounds ran at the 20 MB/s cap, the final round uncapped.
    expect(rates.slice(0, -1).every((r) => r === 20e6)).toBe(true);
    expect(rates.at(-1)).toBe(Number.POSITIVE_INFINITY);
    // 32 MiB at 20 MB/s takes over a second: at least one whole second was sampled.
    expect(report.bytesPerSecond.length).toBe(Math.floor(report.totalMs / 1000));
    expect(report.bytesPerSecond.length).toBeGreaterThanOrEqual(1);
    expect(report.bytesPerSecond.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(report.bytesSent);
  });
});
