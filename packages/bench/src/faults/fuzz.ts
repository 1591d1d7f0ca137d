/**
 * The fuzz runner: every target of `fuzz-targets.ts` for its share of the cases, seeded, with
 * the first counterexample of each failing target (fast-check shrinks it) and what to run to
 * see it again.
 */
import fc from 'fast-check';
import { fuzzTargets } from './fuzz-targets.ts';

export interface FuzzTargetResult {
  readonly name: string;
  readonly cases: number;
  readonly failed: boolean;
  /** The error of the (shrunk) counterexample. */
  readonly error?: string;
  readonly counterexample?: string;
  /** fast-check's seed and path: `fc.check(property, { seed, path })` replays it. */
  readonly seed: number;
  readonly path?: string;
  readonly ms: number;
}

export interface FuzzResult {
  readonly seed: number;
  readonly cases: number;
  readonly failures: number;
  readonly targets: readonly FuzzTargetResult[];
  /** Heap and array-buffer bytes held after the run beyond before it (after a collection when --expose-gc). */
  readonly retainedBytes: number;
  readonly ms: number;
}

export interface FuzzOptions {
  readonly cases: number;
  readonly seed: number;
  /** Only targets whose name starts with this. */
  readonly only?: string;
  readonly onTarget?: (r: FuzzTargetResult, done: number, total: number) => void;
}

function held(): number {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzResult> {
  const started = performance.now();
  const targets = (await fuzzTargets()).filter((t) => !o.only || t.name.startsWith(o.only));
  const weights = targets.reduce((n, t) => n + t.weight, 0);
  const before = held();
  const results: FuzzTargetResult[] = [];
  for (const [i, t] of targets.entries()) {
    const numRuns = Math.min(t.maxCases ?? Number.POSITIVE_INFINITY, Math.max(1, Math.round((o.cases * t.weight) / weights)));
    const seed = (o.seed + i * 7919) | 0;
    const t0 = performance.now();
    const details = await fc.check(t.property as fc.IAsyncProperty<unknown[]>, { numRuns, seed });
    const result: FuzzTargetResult = {
      name: t.name,
      cases: details.numRuns,
      failed: details.failed,
      seed,
      ms: Math.round(performance.now() - t0),
      ...(details.failed && {
        error: String(details.errorInstance instanceof Error ? details.errorInstance.message : details.errorInstance).slice(0, 400),
        counterexample: fc.stringify(details.counterexample).slice(0, 400),
        path: details.counterexamplePath ?? '',
      }),
    };
    results.push(result);
    o.onTarget?.(result, i + 1, targets.length);
  }
  return {
    seed: o.seed,
    cases: results.reduce((n, r) => n + r.cases, 0),
    failures: results.filter((r) => r.failed).length,
    targets: results,
    retainedBytes: held() - before,
    ms: Math.round(performance.now() - started),
  };
}
