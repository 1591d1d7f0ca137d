/**
 * Renders the clause list, with the scenarios that check each clause, into docs/protocol.md
 * between `<!-- conformance:begin -->` and `<!-- conformance:end -->`
 * (`pnpm --filter @ferry/conformance docs`); test/docs.test.ts fails when the section is stale.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CLAUSES } from './clauses.ts';
import { DESTINATION_SCENARIOS } from './destination/scenarios.ts';
import type { Scenario } from './scenario.ts';
import { SOURCE_SCENARIOS } from './source/index.ts';

export const BEGIN = '<!-- conformance:begin -->';
export const END = '<!-- conformance:end -->';
export const PROTOCOL_MD: string = fileURLToPath(new URL('../../../docs/protocol.md', import.meta.url));

const cell = (s: string): string => s.replaceAll('|', '\\|');

/** The generated part: one row per clause, the scenarios that check it by role. */
export function renderConformance(): string {
  const all: readonly Scenario[] = [...SOURCE_SCENARIOS, ...DESTINATION_SCENARIOS];
  const ids = (role: Scenario['role'], clause: string): string =>
    all
      .filter((s) => s.role === role && s.clauses.includes(clause))
      .map((s) => `\`${s.id}\`${s.requiresV4 ? ' (v4)' : ''}`)
      .join(', ') || '—';
  const rows = CLAUSES.map((c) => `| ${c.id} | ${c.section} | ${cell(c.text)} | ${ids('source', c.id)} | ${ids('destination', c.id)} |`);
  return [
    '',
    'Generated from `packages/conformance/src/clauses.ts` and the scenarios (`pnpm --filter @ferry/conformance docs`).',
    'Scenarios of role source (`src-*`) check a destination; those of role destination (`dst-*`) check a source.',
    '',
    '| clause | section | requirement | checked on a destination by | checked on a source by |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

/** `text` with the section between the markers replaced (the markers added at the end when absent). */
export function withConformance(text: string): string {
  let doc = text;
  if (!doc.includes(BEGIN)) {
    doc = `${doc.trimEnd()}\n\n## 8. Conformance\n\nThe conformance kit (\`@ferry/conformance\`, [conformance.md](conformance.md)) checks each requirement below with the scenarios named.\n\n${BEGIN}\n${END}\n`;
  }
  const start = doc.indexOf(BEGIN) + BEGIN.length;
  const end = doc.indexOf(END);
  if (end < start) throw new Error(`${END} comes before ${BEGIN}`);
  return doc.slice(0, start) + renderConformance() + doc.slice(end);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const before = readFileSync(PROTOCOL_MD, 'utf8');
  const after = withConformance(before);
  if (after !== before) writeFileSync(PROTOCOL_MD, after);
  process.stdout.write(`${after === before ? 'up to date' : 'updated'}: ${PROTOCOL_MD}\n`);
}
