import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runTrial } from '../src/faults/campaign.ts';
import { CrashTrap } from '../src/faults/crash-trap.ts';
import { runSoak } from '../src/faults/soak.ts';
import { findTrial, planTrial } from '../src/faults/trial-plan.ts';

/**
 * The short fault campaign that CI runs (the full one is `pnpm bench faults`, docs/reliability.md):
 * one trial of every fault kind (strategies in turn), kills at COMMIT and in post-copy, hostile
 * peers on both sides, and a short soak. Each trial is the campaign's own, found by its cell, so
 * `pnpm bench faults --seed 1 --trial K` replays any that fails.
 */
const SEED = 1;
const CELLS = [
  'flip-header precopy',
  'flip-page-data postcopy',
  'flip-page-entries hybrid',
  'flip-device-state precopy',
  'flip-control postcopy',
  'reset hybrid',
  'cut-after precopy',
  'stall-short postcopy',
  'stall-long hybrid',
  'truncate-frame precopy',
  'truncate-stream postcopy',
  'drop hybrid',
  'duplicate precopy',
  'flip-header postcopy',
  'flip-page-data precopy',
  'flip-device-state hybrid',
  'stall-long precopy',
  'reset postcopy',
  'truncate-frame hybrid',
  'kill source precopy SWITCHOVER (paused)',
  'kill destination precopy READY (paused)',
  'kill source precopy COMMIT, before',
  'kill destination precopy COMMIT, after',
  'kill source postcopy COMMIT, after',
  'kill destination postcopy RESUMED',
  'kill source postcopy post-copy pages',
  'kill destination hybrid post-copy pages',
  'hostile garbage-bytes',
  'hostile first-frame-each-type',
  'hostile out-of-state-each-type',
  'hostile in-state-malformed',
  'hostile stranger-races-source',
  'hostile stranger-joins-session',
  'hostile liar-ready-digest',
  'hostile liar-failed-after-commit',
  'hostile dest-each-type',
];

const trap = new CrashTrap();
beforeAll(() => trap.start());
afterAll(() => trap.stop());

describe('the short fault campaign', () => {
  for (const cell of CELLS) {
    const k = findTrial(SEED, (c) => c === cell);
    it(`trial ${k} (${cell}) ends completed, failed clean, or unknown with one runnable copy`, async () => {
      const r = await runTrial(planTrial(SEED, k), trap);
      expect(r.class, `${r.fault ?? r.cell}: ${r.reasons.join('; ')}`).not.toBe('BAD');
    });
  }

  it('passes a guest back and forth 6 times between two processes, byte for byte, with fds and handles where they began', async () => {
    const soak = await runSoak(6, 8);
    expect(soak.failures).toEqual([]);
    expect(soak.completed).toBe(6);
    // Six migrations say nothing about an RSS trend (the campaign judges it over 100): fds and handles only.
    for (const s of soak.series) expect(s.flat, `${s.host} after it ${s.role}: ${JSON.stringify(s)}`).toBe(true);
  });
});
