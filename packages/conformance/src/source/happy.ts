import type { SourceScenario } from '../scenario.ts';
import { type Mode, open } from './session.ts';

/** Happy paths: one per version, one per encoding, and zero pages left unsent. */
const versions: SourceScenario[] = [1, 2, 3, 4].map((v) => ({
  id: `src-happy-v${v}`,
  role: 'source',
  title: `a whole migration in version ${v} (HELLO ${v}..${v}) ends with RESUMED`,
  clauses: ['HS-3', 'RD-1', 'SW-1', 'SW-3', ...(v >= 3 ? ['FR-4'] : []), ...(v >= 4 ? ['NG-1'] : [])],
  ...(v >= 4 && { requiresV4: true }),
  async run(ctx) {
    const s = await open(ctx, { versionMin: v, versionMax: v });
    return s.migrate();
  },
}));

const encodings: SourceScenario[] = (
  [
    ['raw', 'RAW pages; zero pages never sent (the destination starts zeroed)', ['PG-1', 'PG-4']],
    ['zero', 'every page sent, zero pages as ZERO', ['PG-1']],
    ['lz4', 'non-zero pages as LZ4', ['PG-1']],
    ['xbzrle', 'the final round as XBZRLE deltas against round 0', ['PG-1']],
    ['dedup', 'copies of page 1 as DEDUP references', ['PG-1']],
  ] as const
).map(([mode, what, clauses]) => ({
  id: `src-enc-${mode}`,
  role: 'source',
  title: `encoding ${mode.toUpperCase()}: ${what}`,
  clauses: [...clauses, 'SW-1'],
  async run(ctx) {
    const s = await open(ctx);
    const m: Mode = mode;
    return s.migrate(m === 'xbzrle' ? { mode: 'raw', finalMode: 'xbzrle' } : { mode: m });
  },
}));

export const happyScenarios: SourceScenario[] = [...versions, ...encodings];
