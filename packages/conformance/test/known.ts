/**
 * Scenarios Ferry's engine fails today, each with what the kit observes. They are engine
 * bugs against docs/protocol.md and the version 4 design (the integrator fixes them in
 * packages/engine); the self-test expects them to fail still (strict), so a fix must remove
 * its line here. Everything else must pass.
 */
export const KNOWN_ENGINE_FAILURES: Readonly<Record<string, string>> = {
  'src-dedup-zero-ref':
    'PG-5 (v4 design: a never-sent page is held, as zero): DEDUP of never-sent page 3 fails with FERRY_DECODE_FAILED "DEDUP refers to region 0 page 3, which this host never received"',
  'dst-early-failed':
    'FR-4: after FAILED right behind HELLO_ACCEPT (version 3 or 4), the source answers with an ABORT frame without the CHECKED flag and trailer',
};

/** Failures that depend on timing (the frame's arrival against the event loop): not held strictly. */
export const TIMING_DEPENDENT: ReadonlySet<string> = new Set<string>();
