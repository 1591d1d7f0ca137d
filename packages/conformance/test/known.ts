/**
 * Scenarios Ferry's engine fails today, each with what the kit observes. They are engine
 * bugs against docs/protocol.md (the integrator fixes them in packages/engine); the self-test
 * expects them to fail still (strict), so a fix must remove its line here. Everything else
 * must pass.
 */
export const KNOWN_ENGINE_FAILURES: Readonly<Record<string, string>> = {};

/** Failures that depend on timing (the frame's arrival against the event loop): not held strictly. */
export const TIMING_DEPENDENT: ReadonlySet<string> = new Set<string>();
