/**
 * The state × message tables as docs/protocol.md prints them (§5.1), rendered from the code's
 * own tables. `pnpm --filter @ferry/engine docs:tables` rewrites the block in the spec and the design; a test
 * fails when the two differ.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { CHANNEL_TABLE, DESTINATION_TABLE } from '../src/session/destination-table.ts';
import { renderTable } from '../src/session/message-table.ts';
import { SOURCE_TABLE } from '../src/session/source-table.ts';

export const BEGIN = '<!-- state-tables:begin (generated from packages/engine/src/session/*-table.ts) -->';
export const END = '<!-- state-tables:end -->';
/** The documents that print the tables: the spec (§5.1) and the design. */
export const DOCS: readonly string[] = ['protocol.md', 'design.md'].map((f) => fileURLToPath(new URL(`../../../docs/${f}`, import.meta.url)));

/** The generated block, markers included. */
export function stateTablesBlock(): string {
  return [
    BEGIN,
    '',
    '**Source** (`SOURCE_TABLE`): the state of each connection, what it accepts, and the handler that takes it.',
    '',
    renderTable(SOURCE_TABLE),
    '',
    '**Destination, control connection** (`DESTINATION_TABLE`):',
    '',
    renderTable(DESTINATION_TABLE),
    '',
    '**Destination, data channel** (`CHANNEL_TABLE`), by the migration’s state:',
    '',
    renderTable(CHANNEL_TABLE),
    '',
    END,
  ].join('\n');
}

/** The block as the spec has it now, or undefined when the markers are missing. */
export function specBlock(spec: string): string | undefined {
  const from = spec.indexOf(BEGIN);
  const to = spec.indexOf(END);
  return from < 0 || to < from ? undefined : spec.slice(from, to + END.length);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const doc of DOCS) {
    const text = readFileSync(doc, 'utf8');
    const current = specBlock(text);
    if (current === undefined) throw new Error(`${doc} has no ${BEGIN} … ${END} block`);
    writeFileSync(doc, text.replace(current, stateTablesBlock()));
    console.log(`${doc}: state tables rewritten`);
  }
}
