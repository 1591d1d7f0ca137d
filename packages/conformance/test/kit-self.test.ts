import { describe, expect, it } from 'vitest';
import { runDestinationRole } from '../src/destination/run.ts';
import type { Result } from '../src/runner.ts';
import { runSourceRole } from '../src/source/run.ts';
import { ferryDestination } from './ferry-destination.ts';
import { ferrySource } from './ferry-source.ts';
import { KNOWN_ENGINE_FAILURES, TIMING_DEPENDENT } from './known.ts';

const layout = { pageSize: 4096, regions: [{ name: 'ram0', sizeBytes: 4 * 1024 * 1024 }] };
const key = Buffer.alloc(32, 0x42);

/** Every scenario passes, but for documented skips (v4, PSK) and the engine's known failures (strict). */
function expectConformant(results: readonly Result[]): void {
  const wrong = results
    .filter((r) => r.status !== 'skip' && !TIMING_DEPENDENT.has(r.id) && (r.status === 'pass') === r.id in KNOWN_ENGINE_FAILURES)
    .map((r) => `${r.id}: ${r.status} ${r.reason}${r.id in KNOWN_ENGINE_FAILURES ? ' (listed in known.ts: remove it)' : ''}`);
  expect(wrong).toEqual([]);
  for (const r of results.filter((x) => x.status === 'skip')) {
    expect(r.reason).toMatch(
      /requires protocol version 4|requires a source that speaks version 4|PSK not configured|a key is configured|does not take|nothing to refuse/,
    );
  }
}

describe('the kit against Ferry itself', () => {
  it('role source: a Ferry destination passes every scenario, unkeyed', async () => {
    const { results, peerMaxVersion } = await runSourceRole({ target: ferryDestination(layout), layout, replyTimeoutMs: 4000 });
    expect(peerMaxVersion).toBeGreaterThanOrEqual(3);
    expectConformant(results);
  });

  it('role source: a keyed Ferry destination passes every scenario', async () => {
    const { results } = await runSourceRole({ target: ferryDestination(layout, key), layout, psk: key, replyTimeoutMs: 4000 });
    expect(results.find((r) => r.id === 'src-psk')?.status).toBe('pass');
    expectConformant(results);
  });

  it('role source: a Ferry destination that declines every optional feature and encoding, with the smallest frame limit', async () => {
    const narrow = { acceptFeatures: [], acceptEncodings: [], maxFrameBodyBytes: 65_536 } as const;
    const expected = {
      'src-happy-v3': 'pass',
      'src-happy-v4': 'pass',
      'src-enc-lz4': 'pass',
      'src-recover-precopy': 'skip',
      'src-channels': 'skip',
      'src-postcopy': 'skip',
      'src-v4-negotiation': 'pass',
      'src-v4-migrate-announced': 'pass',
      'src-v4-unannounced-encoding': 'pass',
    };
    const { results } = await runSourceRole({
      target: ferryDestination(layout, undefined, narrow),
      layout,
      replyTimeoutMs: 4000,
      only: Object.keys(expected),
    });
    const status = Object.fromEntries(results.map((r) => [r.id, r.status]));
    expect(status).toEqual(expected);
    expectConformant(results);
  });

  it('role destination: Ferry’s source passes every scenario, unkeyed and keyed', async () => {
    for (const psk of [undefined, key]) {
      const { results } = await runDestinationRole({ port: 0, launcher: ferrySource(psk), ...(psk && { psk }) });
      expect(results.filter((r) => r.status === 'pass').length).toBeGreaterThan(8);
      expectConformant(results);
    }
  });
});
