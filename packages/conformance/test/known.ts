/**
 * Scenarios Ferry's engine fails today, each with what the kit observes. They are engine
 * bugs against docs/protocol.md and the version 4 design (the integrator fixes them in
 * packages/engine); the self-test expects them to fail still (strict), so a fix must remove
 * its line here. Everything else must pass.
 */
export const KNOWN_ENGINE_FAILURES: Readonly<Record<string, string>> = {
  'src-round-mismatch': 'RD-2: a PAGES batch of round 5 during round 0 is taken silently (no FAILED within 5 s)',
  'src-round-end-sequence': 'RD-2: a first ROUND_END of round 2 is taken silently (no FAILED within 5 s)',
  'src-dedup-zero-ref': 'PG-5: DEDUP of a never-sent (zero) page fails with FERRY_DECODE_FAILED',
  'src-refused-then-migrate':
    'HS-13 (timing): when the pipelined frame arrives after the HELLO was read, the refused connection leaves the destination busy: the next MIGRATE gets FERRY_REJECTED "already taking a migration" and result never settles',
  'src-abort-handshake': 'SW-6: ABORT after AUTH_SOURCE is answered HELLO_REJECT FERRY_UNEXPECTED_MESSAGE (keyed run only)',
  'dst-frame-limit-too-small': 'HS-11: the source accepts maxFrameBodyBytes 4096 and sends PAGES',
  'dst-early-failed': 'FR-4: after FAILED right behind HELLO_ACCEPT (v3), the source sends ABORT without CHECKED',
};

/** Failures that depend on timing (the frame's arrival against the event loop): not held strictly. */
export const TIMING_DEPENDENT: ReadonlySet<string> = new Set(['src-refused-then-migrate']);
