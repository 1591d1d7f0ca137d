import { Failure, type Outcome, type Scenario, Skipped } from './scenario.ts';

/** One scenario's result, as the table and the JSON show it. */
export interface Result extends Outcome {
  readonly id: string;
  readonly role: Scenario['role'];
  readonly title: string;
  readonly clauses: readonly string[];
  readonly durationMs: number;
}

/** Why a scenario does not run here, or undefined when it does. */
export function skipReason(s: Scenario, o: { psk: boolean; peerMaxVersion: number }): string | undefined {
  if (s.requiresV4 && o.peerMaxVersion < 4) return `requires protocol version 4; the peer speaks up to ${o.peerMaxVersion}`;
  if (s.psk === 'key' && !o.psk) return 'PSK not configured (give --psk-file or --psk-hex with the key the peer holds)';
  if (s.psk === 'no-key' && o.psk) return 'checks an unkeyed peer; a key is configured';
  return undefined;
}

/**
 * Runs one scenario under a timeout; whatever it throws becomes a failed result, so one
 * scenario never stops the others. `run` gets an AbortSignal that fires at the timeout.
 */
export async function runOne(s: Scenario, timeoutMs: number, run: (signal: AbortSignal) => Promise<string | undefined>): Promise<Result> {
  const started = performance.now();
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      ac.abort();
      reject(new Failure(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
  });
  let outcome: Outcome;
  try {
    const said = await Promise.race([run(ac.signal), timeout]);
    outcome = { status: 'pass', reason: said ?? '' };
  } catch (err) {
    if (err instanceof Skipped) outcome = { status: 'skip', reason: err.message };
    else if (err instanceof Failure) outcome = { status: 'fail', reason: err.message };
    else outcome = { status: 'fail', reason: `error: ${(err as Error).message ?? String(err)}` };
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  return {
    id: s.id,
    role: s.role,
    title: s.title,
    clauses: s.clauses,
    durationMs: Math.round(performance.now() - started),
    ...outcome,
  };
}

export function skipped(s: Scenario, reason: string): Result {
  return { id: s.id, role: s.role, title: s.title, clauses: s.clauses, durationMs: 0, status: 'skip', reason };
}
