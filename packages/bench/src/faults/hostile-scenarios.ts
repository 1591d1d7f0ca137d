/** The hostile peers the campaign sends against each side; `hostile.ts` and its neighbours run them. */
export const HOSTILE_SCENARIOS = [
  // Against a destination: strangers at the door, then a real source that must still get through.
  'garbage-bytes',
  'http-request',
  'tls-client-hello',
  'first-frame-each-type',
  'hello-truncated',
  'oversized-frames',
  'idle-connections',
  'trickle-hello',
  'replayed-handshake',
  'stranger-wrong-key',
  // Against a destination that accepted a HELLO from a stranger: the one migration fails clean.
  'out-of-state-each-type',
  'truncated-each-type',
  'in-state-malformed',
  'idle-after-hello',
  'trickle-pages',
  // A stranger racing a real source.
  'stranger-races-source',
  'stranger-joins-session',
  // Against a source: fake and lying destinations.
  'dest-garbage',
  'dest-silent',
  'dest-trickle',
  'dest-each-type',
  'dest-out-of-state',
  'liar-ready-digest',
  'liar-round-ack',
  'liar-resumed-early',
  'liar-failed-after-commit',
  'liar-postcopy-done',
  'liar-page-request',
] as const;

export type HostileScenario = (typeof HOSTILE_SCENARIOS)[number];
