/**
 * The fuzz runner: every target of `fuzz-targets.ts` for its share of the cases, seeded, with
 * the first counterexample of each failing target (fast-check shrinks it) and what to run to
 * see it again.
 */
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import { type FuzzTarget, fuzzTargets, propertyOf } from './fuzz-targets.ts';

export interface FuzzTargetResult {
  readonly name: string;
  readonly cases: number;
  /** Cases that broke the rules (every case runs: a failure does not stop the count). */
  readonly failures: number;
  /** The first failing case's error, and fast-check's shrunk counterexample. */
  readonly error?: string;
  readonly counterexample?: string;
  /** fast-check's seed (and path of the shrunk case): `fc.check(propertyOf(target), { seed, path })` replays it. */
  readonly seed: number;
  readonly path?: string;
  readonly ms: number;
}

export interface FuzzResult {
  readonly seed: number;
  readonly cases: number;
  /** Cases that broke the rules, over every target. */
  readonly failures: number;
  readonly failedTargets: number;
  readonly targets: readonly FuzzTargetResult[];
  /** Heap and array-buffer bytes held after the run beyond before it, each after a full collection. */
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

/** A full collection, whether or not node runs with --expose-gc. */
function collect(): void {
  v8.setFlagsFromString('--expose-gc');
  (vm.runInNewContext('gc') as () => void)();
}

function held(): number {
  collect();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

function message(err: unknown): string {
  return String(err instanceof Error ? err.message : err).slice(0, 400);
}

/** Runs every case of `t` and counts those that break the rules; then lets fast-check shrink the first. */
async function runTarget(t: FuzzTarget, numRuns: number, seed: number): Promise<FuzzTargetResult> {
  const t0 = performance.now();
  let failures = 0;
  let first: unknown;
  const counting = t.async
    ? fc.asyncProperty(t.arbitrary, async (inputs) => {
        try {
          await t.predicate(inputs);
        } catch (err) {
          failures++;
          first ??= err;
        }
      })
    : fc.property(t.arbitrary, (inputs) => {
        try {
          void t.predicate(inputs);
        } catch (err) {
          failures++;
          first ??= err;
        }
      });
  const run = await fc.check(counting as fc.IAsyncProperty<[unknown[]]>, { numRuns, seed });
  if (failures === 0) return { name: t.name, cases: run.numRuns, failures: 0, seed, ms: Math.round(performance.now() - t0) };
  const shrunk = await fc.check(propertyOf(t) as fc.IAsyncProperty<[unknown[]]>, { numRuns, seed });
  return {
    name: t.name,
    cases: run.numRuns,
    failures,
    error: message(shrunk.failed ? shrunk.errorInstance : first),
    ...(shrunk.failed && { counterexample: fc.stringify(shrunk.counterexample).slice(0, 400), path: shrunk.counterexamplePath ?? '' }),
    seed,
    ms: Math.round(performance.now() - t0),
  };
}

export async function runFuzz(o: FuzzOptions): Promise<FuzzResult> {
  const started = performance.now();
  const targets = (await fuzzTargets()).filter((t) => !o.only || t.name.startsWith(o.only));
  // Capped targets take their cap; the others share the rest by weight, rounded up, so that the
  // cases run are at least those asked for.
  const capped = (t: FuzzTarget): number | undefined =>
    t.maxCases !== undefined && (o.cases * t.weight) / targets.reduce((n, x) => n + x.weight, 0) > t.maxCases ? t.maxCases : undefined;
  const cappedCases = targets.reduce((n, t) => n + (capped(t) ?? 0), 0);
  const freeWeight = targets.reduce((n, t) => n + (capped(t) === undefined ? t.weight : 0), 0);
  const before = held();
  const results: FuzzTargetResult[] = [];
  for (const [i, t] of targets.entries()) {
    const numRuns = capped(t) ?? Math.max(1, Math.ceil((Math.max(0, o.cases - cappedCases) * t.weight) / freeWeight));
    const result = await runTarget(t, numRuns, (o.seed + i * 7919) | 0);
    results.push(result);
    o.onTarget?.(result, i + 1, targets.length);
  }
  return {
    seed: o.seed,
    cases: results.reduce((n, r) => n + r.cases, 0),
    failures: results.reduce((n, r) => n + r.failures, 0),
    failedTargets: results.filter((r) => r.failures > 0).length,
    targets: results,
    retainedBytes: held() - before,
    ms: Math.round(performance.now() - started),
  };
}
