/** A hostile-peer trial: runs its scenario against the side it targets, then judges it like any trial. */
import { classify } from './classifier.ts';
import type { CrashTrap } from './crash-trap.ts';
import { againstDestination } from './hostile-destination.ts';
import { againstSource } from './hostile-source.ts';
import type { Observation } from './observation.ts';
import { leaksAfter, resourceCounts } from './resources.ts';
import { Rng } from './rng.ts';
import type { TrialRecord } from './trial-record.ts';
import type { TrialPlan } from './trial-plan.ts';

export async function runHostileTrial(plan: Extract<TrialPlan, { kind: 'hostile' }>, trap: CrashTrap): Promise<TrialRecord> {
  trap.take();
  const baseline = resourceCounts();
  const rng = new Rng(plan.seed);
  const against = plan.scenario.startsWith('dest-') || plan.scenario.startsWith('liar-') ? againstSource : againstDestination;
  const observed = await against(plan.scenario, rng);
  const hung = observed.source.outcome.end === 'hung' || observed.destination.outcome.end === 'hung';
  const observation: Observation = {
    ...observed,
    crashes: trap.take(),
    leaks: hung ? [] : await leaksAfter(baseline),
  };
  const verdict = classify(observation);
  return {
    trial: plan.trial,
    seed: plan.seed,
    kind: 'hostile',
    cell: plan.cell,
    class: verdict.class,
    // Strangers only: say how the destination ended their sessions.
    reasons:
      verdict.class !== 'BAD' && observation.source.outcome.end === 'none' && observation.destination.outcome.end === 'failed'
        ? [observation.destination.outcome.message]
        : verdict.reasons,
    source: { end: observation.source.outcome, calls: observation.source.calls },
    destination: { end: observation.destination.outcome, calls: observation.destination.calls },
    events: [],
    durationMs: Math.round(observation.durationMs),
  };
}
