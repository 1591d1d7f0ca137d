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

/** What an unexpected message gets from the source while the guest is still its own. */
const ABORT = 'ABORT `FERRY_UNEXPECTED_MESSAGE`, close; the guest runs on here';

/** The source's state × message table (docs/protocol.md §5.2). */
export const SOURCE_TABLE: MessageTable<SourceState, SourceHandler> = {
  greeting: {
    // FAILED: a destination may fail the accepted migration before the source's phase moves on (its prepare hook threw).
    on: { HELLO_ACCEPT: 'accepted', HELLO_REJECT: 'refused', AUTH_CHALLENGE: 'await', FAILED: 'peerFailed' },
    to: {
      HELLO_ACCEPT: '`precopy` (MIGRATE), `probing`, `recovering` or `channel`',
      HELLO_REJECT: '`ended`, fails with its code',
      AUTH_CHALLENGE: 'AUTH_PROOF, or close with `FERRY_AUTH_FAILED`',
      FAILED: '`ended`, `FERRY_PEER_FAILED`',
    },
    otherwise: ABORT,
    timeout: 'handshakeTimeoutMs (10 s) per reply',
  },
  recovering: {
    on: { RECOVER_MISSING: 'await', RECOVER_END: 'recovered', FAILED: 'peerFailed' },
    to: { RECOVER_END: 'the migration’s state; resend what is missing', FAILED: '`ended`' },
    otherwise: 'close; reconnect while the recovery time lasts',
    timeout: 'handshakeTimeoutMs (10 s) per message, within precopyRecoveryMs / recoveryTimeoutMs',
  },
  channel: {
    on: { FAILED: 'peerFailed' },
    to: { FAILED: 'the migration fails' },
    otherwise: 'the channel breaks: ABORT on the control connection',
    timeout: 'none (the control connection bounds the migration)',
  },
  probing: {
    on: { PROBE_ACK: 'await' },
    to: { PROBE_ACK: '`ended`' },
    otherwise: 'the probe fails (`FERRY_UNEXPECTED_MESSAGE`), close',
    timeout: 'ProbeOptions.timeoutMs (10 s)',
  },
  precopy: {
    on: { ECHO_REPLY: 'await', ROUND_ACK: 'ack', FAILED: 'peerFailed' },
    to: { ROUND_ACK: 'checked: pages ≠ the round’s count is `FERRY_UNEXPECTED_MESSAGE`', FAILED: '`ended`, guest runs on' },
    otherwise: `${ABORT}; with precopyRecoveryMs: reconnect (RECOVER)`,
    timeout: 'idleTimeoutMs (30 s); the last round’s ack within handshakeTimeoutMs (10 s)',
  },
  paused: {
    on: { ROUND_ACK: 'ack', READY: 'await', FAILED: 'peerFailed' },
    to: {
      READY: 'COMMIT (→ `committed`) if the digest is right, else ABORT `FERRY_DIGEST_MISMATCH`',
      FAILED: '`ended`, guest resumed here',
    },
    otherwise: 'ABORT `FERRY_UNEXPECTED_MESSAGE`, close; the guest is resumed here',
    timeout: 'handoverTimeoutMs (60 s) for READY',
  },
  committed: {
    on: { RESUMED: 'await', PAGE_REQUEST: 'pageRequest', FAILED: 'peerFailed' },
    to: {
      RESUMED: 'pre-copy: release the guest, close (→ `ended`); post-copy: `postcopy`',
      FAILED: 'COMMIT was not acted on: guest resumed here, `ended`',
    },
    otherwise: 'no ABORT (after COMMIT); pre-copy: ask with RECOVER, else `FERRY_OUTCOME_UNKNOWN`; post-copy: reconnect (RECOVER)',
    timeout: 'handoverTimeoutMs (60 s) for RESUMED',
  },
  postcopy: {
    on: { PAGE_REQUEST: 'pageRequest', POSTCOPY_DONE: 'await', FAILED: 'peerFailed' },
    to: { POSTCOPY_DONE: 'close (→ `ended`)', FAILED: '`ended`, `FERRY_POSTCOPY_INTERRUPTED`, memory kept' },
    otherwise: 'close, reconnect (RECOVER); after recoveryTimeoutMs `FERRY_POSTCOPY_INTERRUPTED`',
    timeout: 'idleTimeoutMs (30 s); a break: recoveryTimeoutMs (30 s)',
  },
  ended: { on: {}, otherwise: 'ignored', timeout: 'none' },
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
