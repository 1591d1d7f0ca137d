import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CLAUSES } from '../src/clauses.ts';
import { DESTINATION_SCENARIOS } from '../src/destination/scenarios.ts';
import { BEGIN, PROTOCOL_MD, withConformance } from '../src/docs.ts';
import { SOURCE_SCENARIOS } from '../src/source/index.ts';

describe('the spec’s Conformance section', () => {
  it('is up to date (run `pnpm --filter @ferry/conformance docs`)', () => {
    const doc = readFileSync(PROTOCOL_MD, 'utf8');
    expect(doc).toContain(BEGIN);
    expect(withConformance(doc)).toBe(doc);
  });

  it('every scenario cites known clauses, every clause is checked, ids are unique', () => {
    const all = [...SOURCE_SCENARIOS, ...DESTINATION_SCENARIOS];
    const known = new Set(CLAUSES.map((c) => c.id));
    expect(new Set(all.map((s) => s.id)).size).toBe(all.length);
    expect(known.size).toBe(CLAUSES.length);
    for (const s of all) for (const c of s.clauses) expect(known, `${s.id} cites ${c}`).toContain(c);
    const cited = new Set(all.flatMap((s) => s.clauses));
    expect(CLAUSES.filter((c) => !cited.has(c.id)).map((c) => c.id)).toEqual([]);
  });
});
