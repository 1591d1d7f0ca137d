import type { MessageTable } from './message-table.ts';
import type { SourcePhase } from './state-machine.ts';

/**
 * What the source does with a message from the destination:
 * - `await`: the phase under way waits for it (it queues until read; at most 16 may wait);
 * - `accepted`: HELLO_ACCEPT, awaited, and the connection leaves `greeting` on arrival (so a
 *   message pipelined behind it is judged by the next state);
 * - `recovered`: RECOVER_END, awaited, and the connection joins the migration's state;
 * - `ack`: a round acknowledged (checked against the pages sent);
 * - `pageRequest`: a post-copy guest waits for a page;
 * - `refused`, `peerFailed`: the destination refused or failed; the connection ends with its code.
 */
export type SourceHandler = 'await' | 'accepted' | 'recovered' | 'ack' | 'pageRequest' | 'refused' | 'peerFailed';

/**
 * The source's states as its connections see them: a connection is `greeting` until
 * HELLO_ACCEPT, `recovering` after a RECOVER handshake until RECOVER_END, `channel` for a data
 * channel, `probing` for `probe()`; otherwise it follows the migration's phase.
 */
export type SourceState = 'greeting' | 'recovering' | 'channel' | 'probing' | 'precopy' | 'paused' | 'committed' | 'postcopy' | 'ended';

/** The source's state × message table (docs/protocol.md §6.1). */
export const SOURCE_TABLE: MessageTable<SourceState, SourceHandler> = {
  greeting: {
    // FAILED: a destination may fail the accepted migration before the source's phase moves on (its prepare hook threw).
    on: { HELLO_ACCEPT: 'accepted', HELLO_REJECT: 'refused', AUTH_CHALLENGE: 'await', FAILED: 'peerFailed' },
    timeout: 'handshakeTimeoutMs (10 s) per reply',
  },
  recovering: {
    on: { RECOVER_MISSING: 'await', RECOVER_END: 'recovered', FAILED: 'peerFailed' },
    timeout: 'handshakeTimeoutMs (10 s) per message, within precopyRecoveryMs / recoveryTimeoutMs',
  },
  channel: { on: { FAILED: 'peerFailed' }, timeout: 'none (the control connection bounds the migration)' },
  probing: { on: { PROBE_ACK: 'await' }, timeout: 'ProbeOptions.timeoutMs (10 s)' },
  precopy: {
    on: { ECHO_REPLY: 'await', ROUND_ACK: 'ack', FAILED: 'peerFailed' },
    timeout: 'idleTimeoutMs (30 s); the last round’s ack within handshakeTimeoutMs (10 s)',
  },
  paused: {
    on: { ROUND_ACK: 'ack', READY: 'await', FAILED: 'peerFailed' },
    timeout: 'handoverTimeoutMs (60 s) for READY',
  },
  committed: {
    on: { RESUMED: 'await', PAGE_REQUEST: 'pageRequest', FAILED: 'peerFailed' },
    timeout: 'handoverTimeoutMs (60 s) for RESUMED',
  },
  postcopy: {
    on: { PAGE_REQUEST: 'pageRequest', POSTCOPY_DONE: 'await', FAILED: 'peerFailed' },
    timeout: 'idleTimeoutMs (30 s); a break: recoveryTimeoutMs (30 s)',
  },
  ended: { on: {}, timeout: 'none' },
};

/** The table state a connection in the migration's `phase` is in. */
export function sourceStateOf(phase: SourcePhase): SourceState {
  switch (phase) {
    case 'connecting':
    case 'handshake':
      return 'greeting';
    case 'precopy':
    case 'paused':
    case 'committed':
    case 'postcopy':
      return phase;
    default:
      return 'ended';
  }
}
