import type { MessageTable } from './message-table.ts';
import type { DestinationPhase } from './state-machine.ts';

/** The destination's handlers, one per message it acts on (docs/protocol.md §6.2). */
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

/** The destination's state × message table for the control connection. */
export const DESTINATION_TABLE: MessageTable<DestinationState, DestinationHandler> = {
  handshake: { on: { HELLO: 'hello', AUTH_SOURCE: 'auth', AUTH_PROOF: 'auth', ABORT: 'abort' }, timeout: 'handshakeTimeoutMs (10 s)' },
  probing: { on: { PROBE_DATA: 'probeData', PROBE_END: 'probeEnd' }, timeout: 'handshakeTimeoutMs (10 s) idle' },
  receiving: {
    on: { PAGES: 'pages', ROUND_END: 'roundEnd', ECHO: 'echo', SWITCHOVER: 'switchover', POSTCOPY_ENTER: 'postcopyEnter', ABORT: 'abort' },
    timeout: 'idleTimeoutMs (30 s); a break with RESUMABLE: recoveryTimeoutMs (30 s)',
  },
  switchover: {
    on: { PAGES: 'pages', ROUND_END: 'roundEnd', DEVICE_STATE: 'deviceState', COMPLETE: 'complete', ABORT: 'abort' },
    timeout: 'idleTimeoutMs (30 s)',
  },
  'postcopy-switchover': {
    on: { POSTCOPY_MISSING: 'postcopyMissing', DEVICE_STATE: 'postcopyDeviceState', ABORT: 'abort' },
    timeout: 'idleTimeoutMs (30 s)',
  },
  verifying: { on: { ABORT: 'abort' }, timeout: 'none (the destination is working)' },
  ready: { on: { COMMIT: 'commit', ABORT: 'abort' }, timeout: 'idleTimeoutMs (30 s)' },
  resuming: { on: { PAGES: 'pages', ABORT: 'abort' }, timeout: 'none (the control plane’s resume hook runs)' },
  postcopy: {
    on: { PAGES: 'pages', COMPLETE: 'postcopyComplete', ABORT: 'abort' },
    timeout: 'idleTimeoutMs (30 s); a break: recoveryTimeoutMs (30 s)',
  },
  // After post-copy's POSTCOPY_DONE: a source whose copy of it was lost reconnects and asks again.
  resumed: { on: { COMPLETE: 'postcopyComplete' }, timeout: 'POSTCOPY_DONE_GRACE_MS (3 s) after the connection closes, post-copy only' },
  failed: { on: {}, timeout: 'none' },
};

/** What a data channel (HELLO intent CHANNEL) may carry, by the migration's state: PAGES only. */
export const CHANNEL_TABLE: MessageTable<DestinationState, 'pages'> = {
  handshake: { on: {}, timeout: 'handshakeTimeoutMs (10 s)' },
  probing: { on: {}, timeout: 'none' },
  receiving: { on: { PAGES: 'pages' }, timeout: 'none (the control connection’s)' },
  switchover: { on: { PAGES: 'pages' }, timeout: 'none (the control connection’s)' },
  'postcopy-switchover': { on: {}, timeout: 'none' },
  // COMPLETE may overtake pages still on their way on other channels: they are awaited here.
  verifying: { on: { PAGES: 'pages' }, timeout: 'none (the control connection’s)' },
  ready: { on: {}, timeout: 'none' },
  resuming: { on: {}, timeout: 'none' },
  postcopy: { on: {}, timeout: 'none' },
  resumed: { on: {}, timeout: 'none' },
  failed: { on: {}, timeout: 'none' },
};
