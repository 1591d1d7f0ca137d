import type { MessageTable } from './message-table.ts';
import type { DestinationPhase } from './state-machine.ts';

/** The destination's handlers, one per message it acts on (docs/protocol.md §5.2). */
export type DestinationHandler =
  | 'hello'
  | 'auth'
  | 'probeData'
  | 'probeEnd'
  | 'pages'
  | 'roundEnd'
  | 'echo'
  | 'switchover'
  | 'postcopyEnter'
  | 'postcopyMissing'
  | 'deviceState'
  | 'postcopyDeviceState'
  | 'complete'
  | 'postcopyComplete'
  | 'commit'
  | 'abort';

/** The destination's states: the migration's phases, and `probing` for a PROBE connection. */
export type DestinationState = DestinationPhase | 'probing';

/** What ABORT leads to before COMMIT: the source is leaving; a FAILED goes only to one still connected a second later. */
const ABORTED = '`failed`, close (FAILED `FERRY_ABORTED` if the source has not closed within 1 s)';
/** What an unexpected message gets from the destination while the guest is still the source's. */
const FAIL = 'FAILED `FERRY_UNEXPECTED_MESSAGE`, close (→ `failed`)';
/** …and while the guest is split between the hosts (post-copy after COMMIT): the connection is recovered, not failed. */
const DROP = 'drop the connection without FAILED, wait for a RECOVER HELLO (§6.3)';

/** The destination's state × message table for the control connection. */
export const DESTINATION_TABLE: MessageTable<DestinationState, DestinationHandler> = {
  handshake: {
    on: { HELLO: 'hello', AUTH_SOURCE: 'auth', AUTH_PROOF: 'auth', ABORT: 'abort' },
    to: {
      HELLO: 'HELLO_ACCEPT: `receiving` (MIGRATE), `probing` (PROBE), the session’s state (RECOVER, CHANNEL); or HELLO_REJECT, close',
      AUTH_SOURCE: 'AUTH_CHALLENGE',
      AUTH_PROOF: 'HELLO_ACCEPT, or HELLO_REJECT `FERRY_AUTH_FAILED`',
      ABORT: 'nothing kept; no answer, close',
    },
    otherwise: 'HELLO_REJECT `FERRY_UNEXPECTED_MESSAGE`, close',
    timeout: 'handshakeTimeoutMs (10 s)',
  },
  probing: {
    on: { PROBE_DATA: 'probeData', PROBE_END: 'probeEnd' },
    to: { PROBE_END: 'PROBE_ACK, close' },
    otherwise: 'close (`FERRY_UNEXPECTED_MESSAGE`), no answer',
    timeout: 'handshakeTimeoutMs (10 s) idle',
  },
  receiving: {
    on: { PAGES: 'pages', ROUND_END: 'roundEnd', ECHO: 'echo', SWITCHOVER: 'switchover', POSTCOPY_ENTER: 'postcopyEnter', ABORT: 'abort' },
    to: {
      ROUND_END: 'ROUND_ACK once the round’s pages are all here',
      ECHO: 'ECHO_REPLY',
      SWITCHOVER: '`switchover`',
      POSTCOPY_ENTER: '`postcopy-switchover`',
      ABORT: ABORTED,
    },
    otherwise: `${FAIL}; with RESUMABLE: ${DROP.replace(' (§6.3)', ' (§6.4)')}`,
    timeout: 'idleTimeoutMs (30 s); a break with RESUMABLE: recoveryTimeoutMs (30 s)',
  },
  switchover: {
    on: { PAGES: 'pages', ROUND_END: 'roundEnd', DEVICE_STATE: 'deviceState', COMPLETE: 'complete', ABORT: 'abort' },
    to: { ROUND_END: 'ROUND_ACK', COMPLETE: '`verifying`', ABORT: ABORTED },
    otherwise: FAIL,
    timeout: 'idleTimeoutMs (30 s)',
  },
  'postcopy-switchover': {
    on: { POSTCOPY_MISSING: 'postcopyMissing', DEVICE_STATE: 'postcopyDeviceState', ABORT: 'abort' },
    to: { DEVICE_STATE: '`verifying` once the whole state is here', ABORT: ABORTED },
    otherwise: FAIL,
    timeout: 'idleTimeoutMs (30 s)',
  },
  verifying: {
    on: { ABORT: 'abort' },
    to: { ABORT: ABORTED },
    otherwise: `${FAIL}; on its own: READY (→ \`ready\`) or FAILED`,
    timeout: 'none (the destination is working)',
  },
  ready: {
    on: { COMMIT: 'commit', ABORT: 'abort' },
    to: { COMMIT: '`resuming`', ABORT: ABORTED },
    otherwise: FAIL,
    timeout: 'idleTimeoutMs (30 s)',
  },
  resuming: {
    on: { PAGES: 'pages', ABORT: 'abort' },
    to: { PAGES: 'post-copy only', ABORT: 'ignored in pre-copy; post-copy: `failed` (`FERRY_POSTCOPY_INTERRUPTED`), state kept' },
    otherwise: `pre-copy: ignored (COMMIT was acted on; no FAILED); post-copy: ${DROP}`,
    timeout: 'none (the control plane’s resume hook runs)',
  },
  postcopy: {
    on: { PAGES: 'pages', COMPLETE: 'postcopyComplete', ABORT: 'abort' },
    to: { COMPLETE: 'POSTCOPY_DONE once no page is missing (→ `resumed`)', ABORT: '`failed` (`FERRY_POSTCOPY_INTERRUPTED`), state kept' },
    otherwise: DROP,
    timeout: 'idleTimeoutMs (30 s); a break: recoveryTimeoutMs (30 s)',
  },
  // After post-copy's POSTCOPY_DONE: a source whose copy of it was lost reconnects and asks again.
  resumed: {
    on: { COMPLETE: 'postcopyComplete' },
    to: { COMPLETE: 'POSTCOPY_DONE again' },
    otherwise: 'ignored (the migration is over)',
    timeout: 'POSTCOPY_DONE_GRACE_MS (3 s) after the connection closes, post-copy only',
  },
  failed: { on: {}, otherwise: 'ignored; the connection closes', timeout: 'none' },
};

const CHANNEL_FAIL = 'the migration fails: FAILED `FERRY_UNEXPECTED_MESSAGE` on the control connection';

/** What a data channel (HELLO intent CHANNEL) may carry, by the migration's state: PAGES only. */
export const CHANNEL_TABLE: MessageTable<DestinationState, 'pages'> = {
  handshake: { on: {}, otherwise: 'HELLO_REJECT `FERRY_UNEXPECTED_MESSAGE`, close', timeout: 'handshakeTimeoutMs (10 s)' },
  probing: { on: {}, otherwise: CHANNEL_FAIL, timeout: 'none' },
  receiving: { on: { PAGES: 'pages' }, otherwise: CHANNEL_FAIL, timeout: 'none (the control connection’s)' },
  switchover: { on: { PAGES: 'pages' }, otherwise: CHANNEL_FAIL, timeout: 'none (the control connection’s)' },
  'postcopy-switchover': { on: {}, otherwise: CHANNEL_FAIL, timeout: 'none' },
  // COMPLETE may overtake pages still on their way on other channels: they are awaited here.
  verifying: {
    on: { PAGES: 'pages' },
    to: { PAGES: 'only while COMPLETE waits for a round’s pages' },
    otherwise: CHANNEL_FAIL,
    timeout: 'none (the control connection’s)',
  },
  ready: { on: {}, otherwise: CHANNEL_FAIL, timeout: 'none' },
  resuming: {
    on: {},
    otherwise: 'pre-copy: ignored (COMMIT was acted on); post-copy: `FERRY_POSTCOPY_INTERRUPTED`, state kept',
    timeout: 'none',
  },
  postcopy: { on: {}, otherwise: '`FERRY_POSTCOPY_INTERRUPTED`, state kept (data channels are closed before post-copy)', timeout: 'none' },
  resumed: { on: {}, otherwise: 'ignored', timeout: 'none' },
  failed: { on: {}, otherwise: 'ignored', timeout: 'none' },
};
