import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ErrorCode, type FerryError, MessageType } from '../../src/index.ts';
import { Msg, type MessageName } from '../../src/protocol/registry.ts';
import { CHANNEL_TABLE, DESTINATION_TABLE } from '../../src/session/destination-table.ts';
import { handlerFor, type MessageTable } from '../../src/session/message-table.ts';
import { SOURCE_TABLE, sourceStateOf } from '../../src/session/source-table.ts';
import { DESTINATION_TRANSITIONS, SOURCE_TRANSITIONS } from '../../src/session/state-machine.ts';
import { DOCS, specBlock, stateTablesBlock } from '../../scripts/state-tables.ts';

const frameOf = (name: MessageName) => ({ type: MessageType[name], body: new Uint8Array(0) });

function listed(table: MessageTable<string, string>): MessageName[] {
  return Object.values(table).flatMap((rule) => Object.keys(rule.on) as MessageName[]);
}

describe('the state × message tables', () => {
  it('are printed in docs/protocol.md and docs/design.md exactly as the code has them', () => {
    for (const doc of DOCS) {
      const block = specBlock(readFileSync(doc, 'utf8'));
      expect(block, `${doc} lacks the state-tables block`).toBeDefined();
      expect(block, 'run `pnpm --filter @ferry/engine docs:tables`').toBe(stateTablesBlock());
    }
  });

  it('list, for each side, only messages the other side sends', () => {
    for (const name of listed(SOURCE_TABLE)) expect(Msg[name].sender, name).toBe('destination');
    for (const name of [...listed(DESTINATION_TABLE), ...listed(CHANNEL_TABLE)]) expect(Msg[name].sender, name).toBe('source');
  });

  it('have a row for every phase of both state machines', () => {
    for (const phase of Object.keys(DESTINATION_TRANSITIONS)) {
      expect(DESTINATION_TABLE).toHaveProperty([phase]);
      expect(CHANNEL_TABLE).toHaveProperty([phase]);
    }
    for (const phase of Object.keys(SOURCE_TRANSITIONS) as (keyof typeof SOURCE_TRANSITIONS)[]) {
      expect(SOURCE_TABLE).toHaveProperty([sourceStateOf(phase)]);
    }
  });

  it('refuse every message a state does not list with FERRY_UNEXPECTED_MESSAGE naming both', () => {
    for (const table of [SOURCE_TABLE, DESTINATION_TABLE, CHANNEL_TABLE] as MessageTable<string, string>[]) {
      for (const [state, rule] of Object.entries(table)) {
        for (const name of Object.keys(MessageType) as MessageName[]) {
          const allowed = rule.on[name];
          if (allowed !== undefined) {
            expect(handlerFor(table, state, frameOf(name))).toBe(allowed);
            continue;
          }
          let error: FerryError | undefined;
          try {
            handlerFor(table, state, frameOf(name));
          } catch (err) {
            error = err as FerryError;
          }
          expect(error?.code, `${name} in ${state}`).toBe(ErrorCode.UNEXPECTED_MESSAGE);
          expect(error?.message).toBe(`${name} is not allowed in state ${state}`);
        }
      }
    }
  });

  it('say, for every state, what any other message gets and where each accepted message leads', () => {
    for (const table of [SOURCE_TABLE, DESTINATION_TABLE, CHANNEL_TABLE] as MessageTable<string, string>[]) {
      for (const [state, rule] of Object.entries(table)) {
        expect(rule.otherwise.length, state).toBeGreaterThan(0);
        expect(rule.timeout.length, state).toBeGreaterThan(0);
        // A `to` entry describes a message the state accepts, never one it refuses.
        for (const name of Object.keys(rule.to ?? {})) expect(rule.on, `${state}: ${name}`).toHaveProperty([name]);
      }
    }
  });

  it('let the destination take nothing once the migration failed, only a repeated COMPLETE once resumed, and only ABORT while it verifies', () => {
    expect(DESTINATION_TABLE.resumed.on).toEqual({ COMPLETE: 'postcopyComplete' }); // post-copy's COMPLETE asked again
    expect(DESTINATION_TABLE.failed.on).toEqual({});
    expect(DESTINATION_TABLE.verifying.on).toEqual({ ABORT: 'abort' });
    expect(SOURCE_TABLE.ended.on).toEqual({});
  });
});
