/**
 * `pnpm bench faults`: the fault campaign. Runs the seeded trials (fault, kill and hostile-peer),
 * the soak and the fuzzing, prints progress and tables, and writes everything (with the machine
 * described) to .bench-out/faults*.json. Each trial is replayed alone with `--seed N --trial K`.
 */
import { execFileSync } from 'node:child_process';
import { printTable, writeResult } from '../output.ts';
import { TRIAL_CLASSES, type TrialClass } from './classifier.ts';
import { CrashTrap } from './crash-trap.ts';
import { type FuzzResult, runFuzz } from './fuzz.ts';
import { runHostileTrial } from './hostile.ts';
import { runSoak, type SoakResult } from './soak.ts';
import { runInProcessTrial } from './trial-in-process.ts';
import { CELL_COUNTS, hangLimitMs, planTrial, type TrialPlan } from './trial-plan.ts';
import { runProcessTrial } from './trial-processes.ts';
import type { TrialRecord } from './trial-record.ts';

export interface CampaignOptions {
  readonly seed: number;
  /** Trials `first` .. `first + trials - 1`. */
  readonly first: number;
  readonly trials: number;
  readonly soakMigrations: number;
  readonly soakSizeMiB: number;
  readonly fuzzCases: number;
  /** The result file's name in .bench-out/ (without .json). */
  readonly name: string;
}

export interface CampaignResult {
  readonly options: CampaignOptions;
  /** The engine measured, at the start and at the end (others may commit meanwhile): the commit, and the engine's files changed in the working tree since. */
  readonly engine: { readonly atStart: EngineVersion; readonly atEnd: EngineVersion };
  readonly trials: readonly TrialRecord[];
  readonly counts: Record<TrialClass, number>;
  readonly soak?: SoakResult;
  readonly fuzz?: FuzzResult;
  readonly ms: number;
}

/** One trial, whatever its kind; a failure of the campaign's own code is a BAD trial, never hidden. */
export async function runTrial(plan: TrialPlan, trap: CrashTrap): Promise<TrialRecord> {
  // A trial bounds its own waits; this only catches one whose runner itself never returns. Its
  // timer starts before the trial, which counts the timers it finds as its baseline.
  const limitMs = hangLimitMs('setup' in plan ? plan.setup : undefined) * 2 + 30_000;
  let timer: NodeJS.Timeout | undefined;
  const stuck = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the trial had not returned after ${limitMs} ms`)), limitMs);
  });
  try {
    const run =
      plan.kind === 'hostile'
        ? runHostileTrial(plan, trap)
        : plan.kind === 'kill'
          ? runProcessTrial(plan, trap)
          : runInProcessTrial(plan, trap);
    return await Promise.race([run, stuck]);
  } catch (err) {
    return {
      trial: plan.trial,
      seed: plan.seed,
      kind: plan.kind,
      cell: plan.cell,
      class: 'BAD',
      reasons: [`campaign error: ${err instanceof Error ? err.message : String(err)}`],
      source: { end: { end: 'none' }, calls: [] },
      destination: { end: { end: 'none' }, calls: [] },
      events: [],
      durationMs: 0,
    };
  } finally {
    clearTimeout(timer);
  }
}

interface EngineVersion {
  readonly commit: string;
  readonly changedFiles: readonly string[];
}

function engineVersion(): EngineVersion {
  const git = (...args: string[]): string => {
    try {
      return execFileSync('git', args, { cwd: import.meta.dirname, encoding: 'utf8' }).trim();
    } catch {
      return '';
    }
  };
  const changed = git('status', '--porcelain', '--', '../../../engine/src');
  return { commit: git('rev-parse', 'HEAD') || 'unknown', changedFiles: changed ? changed.split('\n').map((l) => l.slice(3)) : [] };
}

function endText(r: TrialRecord): string {
  const e = r.source.end;
  return e.end === 'failed' ? e.code : e.end;
}

export async function faultsBench(o: CampaignOptions): Promise<CampaignResult> {
  const started = performance.now();
  const atStart = engineVersion();
  const elapsed = (): string => `${((performance.now() - started) / 1000).toFixed(0)} s`;
  const trap = new CrashTrap();
  trap.start();
  const trials: TrialRecord[] = [];
  try {
    if (o.trials > 0) {
      console.log(
        `fault campaign, seed ${o.seed}: trials ${o.first}..${o.first + o.trials - 1} ` +
          `(cells: ${CELL_COUNTS.fault} fault, ${CELL_COUNTS.kill} kill, ${CELL_COUNTS.hostile} hostile)`,
      );
    }
    for (let k = o.first; k < o.first + o.trials; k++) {
      const plan = planTrial(o.seed, k);
      const r = await runTrial(plan, trap);
      trials.push(r);
      const what = r.fault ?? r.cell;
      const note = r.class === 'BAD' ? ` <- ${r.reasons.join('; ')}` : r.injected || r.kind === 'hostile' ? '' : ' (the fault never fired)';
      console.log(
        `[${trials.length}/${o.trials}, ${elapsed()}] trial ${k} ${r.cell}: ${r.class} (${endText(r)}, ${r.durationMs} ms) ${plan.kind === 'hostile' ? '' : what}${note}`,
      );
    }
  } finally {
    trap.stop();
  }
  const counts = Object.fromEntries(TRIAL_CLASSES.map((c) => [c, trials.filter((t) => t.class === c).length])) as Record<
    TrialClass,
    number
  >;
  if (trials.length > 0) {
    console.log('\ntrials by kind and class');
    printTable(
      (['fault', 'kill', 'hostile'] as const).map((kind) => ({
        kind,
        ...Object.fromEntries(TRIAL_CLASSES.map((c) => [c, trials.filter((t) => t.kind === kind && t.class === c).length])),
        total: trials.filter((t) => t.kind === kind).length,
      })),
    );
    const strategies = ['precopy', 'postcopy', 'hybrid'] as const;
    console.log('\nfault and kill trials by strategy and class');
    printTable(
      strategies.map((s) => ({
        strategy: s,
        ...Object.fromEntries(TRIAL_CLASSES.map((c) => [c, trials.filter((t) => t.setup?.strategy === s && t.class === c).length])),
        'no fault fired': trials.filter((t) => t.setup?.strategy === s && !t.injected).length,
      })),
    );
    const bad = trials.filter((t) => t.class === 'BAD');
    if (bad.length > 0) {
      console.log(`\nBAD trials (replay one with --seed ${o.seed} --trial K)`);
      printTable(bad.map((t) => ({ trial: t.trial, cell: t.cell, fault: t.fault ?? '', why: t.reasons.join('; ').slice(0, 160) })));
    }
    console.log(`\n${trials.length} trials: ${TRIAL_CLASSES.map((c) => `${counts[c]} ${c}`).join(', ')}`);
  }

  let soak: SoakResult | undefined;
  if (o.soakMigrations > 0) {
    console.log(`\nsoak: ${o.soakMigrations} migrations of a ${o.soakSizeMiB} MiB guest back and forth between two processes`);
    soak = await runSoak(o.soakMigrations, o.soakSizeMiB, (i, line) => {
      if (i % 10 === 9 || i === o.soakMigrations - 1) console.log(`[soak ${i + 1}/${o.soakMigrations}, ${elapsed()}] ${line}`);
    });
    printTable(
      soak.series.map((s) => ({
        host: s.host,
        'after it': s.role,
        'rss MiB first': s.rssFirstMiB,
        'rss MiB last': s.rssLastMiB,
        'rss MiB max': s.rssMaxMiB,
        'KiB/migration': s.rssSlopeKiBPerMigration,
        'fds first': s.fdsFirst,
        'fds last': s.fdsLast,
        'handles first': s.handlesFirst,
        'handles last': s.handlesLast,
        flat: s.flat ? (s.rssJudged ? 'yes' : 'yes (fds, handles)') : 'NO',
      })),
    );
    console.log(
      `soak: ${soak.completed}/${soak.migrations} completed byte-identical, ${soak.flat ? 'flat' : 'NOT FLAT'}${soak.failures.length ? `; ${soak.failures.join('; ')}` : ''}`,
    );
  }

  let fuzz: FuzzResult | undefined;
  if (o.fuzzCases > 0) {
    console.log(`\nfuzzing: ${o.fuzzCases} cases over every decoder, seed ${o.seed}`);
    fuzz = await runFuzz({
      cases: o.fuzzCases,
      seed: o.seed,
      onTarget: (t, i, n) => {
        if (t.failures > 0 || i % 10 === 0 || i === n) {
          console.log(
            `[fuzz ${i}/${n}, ${elapsed()}] ${t.name}: ${t.cases} cases, ${t.failures > 0 ? `${t.failures} FAILED: ${t.error}` : 'ok'}`,
          );
        }
      },
    });
    const failed = fuzz.targets.filter((t) => t.failures > 0);
    if (failed.length > 0) {
      printTable(
        failed.map((t) => ({ target: t.name, cases: t.cases, failed: t.failures, seed: t.seed, error: (t.error ?? '').slice(0, 120) })),
      );
    }
    console.log(
      `fuzz: ${fuzz.cases} cases, ${fuzz.failures} broke the rules (in ${fuzz.failedTargets} targets), ${(fuzz.retainedBytes / 2 ** 20).toFixed(1)} MiB retained after`,
    );
  }

  const result: CampaignResult = {
    options: o,
    engine: { atStart, atEnd: engineVersion() },
    trials,
    counts,
    ...(soak && { soak }),
    ...(fuzz && { fuzz }),
    ms: Math.round(performance.now() - started),
  };
  console.log(`wrote ${writeResult(o.name, result)}`);
  return result;
}
