import { ErrorCode, ProtocolError } from '../errors.ts';
import { messageName } from '../protocol/constants.ts';
import type { Frame } from '../protocol/frame.ts';
import type { MessageName } from '../protocol/registry.ts';

/**
 * What one side accepts in one state: each message allowed there, with the handler that takes
 * it, and the timeout that bounds the state. Anything not listed is FERRY_UNEXPECTED_MESSAGE.
 */
export interface StateRule<H extends string> {
  readonly on: Partial<Readonly<Record<MessageName, H>>>;
  /**
   * Where an accepted message leads, for the spec's table (docs/protocol.md §5.2): the next
   * state and what is answered; a message not named here leaves the state as it is.
   */
  readonly to?: Partial<Readonly<Record<MessageName, string>>>;
  /** What a message not in `on` gets in this state: the error code and what the side does (for the spec's table). */
  readonly otherwise: string;
  /** The timeout that bounds this state, as the option that sets it and its default (docs/limits.md, "Timeouts by state"). */
  readonly timeout: string;
}

/** One side's state × message table: dispatch goes through it, and docs/protocol.md prints it. */
export type MessageTable<S extends string, H extends string> = Readonly<Record<S, StateRule<H>>>;

/** The handler `table` names for `frame` in `state`, or the typed error for an illegal frame. */
export function handlerFor<S extends string, H extends string>(table: MessageTable<S, H>, state: S, frame: Frame): H {
  const handler = table[state].on[messageName(frame.type) as MessageName];
  if (handler === undefined) {
    throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `${messageName(frame.type)} is not allowed in state ${state}`);
  }
  return handler;
}

/**
 * Dispatch through a table: each phase registers the handlers it owns, and every frame goes
 * to the one its state names (or is the table's typed error). The composer holds no protocol
 * detail; a handler named by the table that no phase registered is an engine bug, said so.
 */
export class Dispatcher<S extends string, H extends string> {
  private readonly table: MessageTable<S, H>;
  private readonly handlers = new Map<H, (frame: Frame) => void>();

  constructor(table: MessageTable<S, H>) {
    this.table = table;
  }

  on(handler: H, take: (frame: Frame) => void): this {
    this.handlers.set(handler, take);
    return this;
  }

  dispatch(state: S, frame: Frame): void {
    const handler = handlerFor(this.table, state, frame);
    const take = this.handlers.get(handler);
    if (!take) throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `${messageName(frame.type)} has no handler (${handler}) here`);
    take(frame);
  }
}

/**
 * The table as a Markdown table (states as rows), as docs/protocol.md prints it: each accepted
 * message with its handler and where it leads, what any other message gets, and the timeout.
 */
export function renderTable<S extends string, H extends string>(table: MessageTable<S, H>): string {
  const lines = ['| state | accepts: message → handler (→ next state, answer) | any other message | timeout |', '|---|---|---|---|'];
  for (const [state, rule] of Object.entries(table) as [S, StateRule<H>][]) {
    const accepts = Object.entries(rule.on).map(([m, h]) => {
      const to = rule.to?.[m as MessageName];
      return `${m} → ${h}${to === undefined ? '' : ` (→ ${to})`}`;
    });
    lines.push(`| \`${state}\` | ${accepts.length > 0 ? accepts.join('; ') : '(nothing)'} | ${rule.otherwise} | ${rule.timeout} |`);
  }
  return lines.join('\n');
}
