/**
 * The campaign's judge. Each trial ends in one of four classes:
 * - `completed`: the guest runs on the destination, whose memory, device state and identity are
 *   byte-identical to the source's frozen ones, and the source does not run it;
 * - `failed-clean`: the migration failed, the source guest runs (never paused, or resumed) and its
 *   memory is intact, and the destination never ran it;
 * - `unknown`: the source reported FERRY_OUTCOME_UNKNOWN or FERRY_POSTCOPY_INTERRUPTED (or was
 *   killed with the guest paused) and keeps the guest paused and intact for its control plane,
 *   while the destination runs it or not: exactly one side may run it, never both;
 * - `BAD`: anything else: the guest lost (nobody holds a runnable copy), two copies running,
 *   corruption that completed undetected, a hang past the limit, a crash or a non-FerryError,
 *   a leak, or a hostile scenario's own expectation broken.
 *
 * Against a lying destination (a real one behind a proxy that rewrites what it says) the one
 * rule that cannot hold is "never two copies": a destination that resumed and then says FAILED
 * is believed, as the protocol says it must be. Every other rule stands.
 */
import { ErrorCode } from '@ferry/engine';
import type { Observation } from './observation.ts';

export type TrialClass = 'completed' | 'failed-clean' | 'unknown' | 'BAD';

export const TRIAL_CLASSES: readonly TrialClass[] = ['completed', 'failed-clean', 'unknown', 'BAD'];

export interface Verdict {
  readonly class: TrialClass;
  /** Why: for BAD every rule broken; otherwise a few words on how it ended. */
  readonly reasons: readonly string[];
}

const UNKNOWN_CODES: readonly string[] = [ErrorCode.OUTCOME_UNKNOWN, ErrorCode.POSTCOPY_INTERRUPTED];

export function classify(o: Observation): Verdict {
  const bad: string[] = [];
  const s = o.source;
  const d = o.destination;
  for (const c of o.crashes) bad.push(`crash: ${c}`);
  for (const l of o.leaks) bad.push(`leak: ${l}`);
  for (const v of o.violations ?? []) bad.push(v);
  for (const [side, end] of [
    ['source', s.outcome],
    ['destination', d.outcome],
  ] as const) {
    if (end.end === 'hung') bad.push(`hang: the ${side} had not finished at the hang limit`);
    if (end.end === 'threw') bad.push(`crash: the ${side} rejected with a non-FerryError: ${end.message}`);
    if (end.end === 'crashed') bad.push(`crash: the ${side} died: ${end.message}`);
  }
  if (s.tornPages !== undefined && s.tornPages > 0) bad.push(`source memory corrupted: ${s.tornPages} torn pages`);

  const sourceRuns = !s.paused && !s.released;
  const sourceHolds = s.paused && !s.released;
  const destinationRuns = d.resumed;
  const destinationCompleted = d.outcome.end === 'completed';

  // A destination that lies can always claim, after it resumed, that it never did (FAILED after
  // COMMIT is trusted by design): a source that believes it did what the protocol says.
  if (sourceRuns && destinationRuns && !o.destinationIsLiar)
    bad.push('two copies: the source guest runs and the destination resumed it too');
  if (!sourceRuns && !sourceHolds && !destinationRuns) bad.push('guest lost: the source released it and the destination does not run it');
  if (s.outcome.end === 'completed' && !destinationCompleted && !destinationRuns) {
    bad.push('guest lost: the source completed but the destination does not run the guest');
  }
  if (s.outcome.end === 'completed' && !s.released) bad.push('the source completed without releasing the guest');
  const c = o.comparison;
  if (c) {
    if (!c.memoryIdentical) {
      const at = c.firstDifference ? ` (first at region ${c.firstDifference.region} page ${c.firstDifference.page})` : '';
      bad.push(`undetected corruption: destination memory differs from the source's${at}`);
    }
    if (!c.deviceStateIdentical) bad.push('undetected corruption: destination device state differs from the source');
    if (!c.identityIdentical) bad.push('undetected corruption: the destination took a different layout or guest id');
  } else if (destinationCompleted && sourceHolds) {
    bad.push('the destination completed but its memory could not be compared');
  }

  const end = s.outcome;
  if (end.end === 'failed' && !UNKNOWN_CODES.includes(end.code) && !sourceRuns) {
    bad.push(`failed with ${end.code} but the source guest does not run`);
  }
  if (end.end === 'failed' && UNKNOWN_CODES.includes(end.code) && !sourceHolds) {
    bad.push(`${end.code} but the source guest is not kept paused`);
  }
  if (bad.length > 0) return { class: 'BAD', reasons: bad };

  switch (end.end) {
    case 'completed':
      return { class: 'completed', reasons: [] };
    case 'failed':
      return UNKNOWN_CODES.includes(end.code)
        ? { class: 'unknown', reasons: [`${end.code}; destination ${destinationRuns ? 'runs the guest' : 'does not run it'}`] }
        : { class: 'failed-clean', reasons: [end.code] };
    default:
      // The source was killed (or there was no real source): judge by where the guest is.
      if (destinationCompleted && c?.memoryIdentical) return { class: 'completed', reasons: [`source ${end.end}`] };
      if (sourceRuns) return { class: 'failed-clean', reasons: [`source ${end.end}; its guest runs`] };
      return {
        class: 'unknown',
        reasons: [`source ${end.end} with the guest paused; destination ${destinationRuns ? 'runs it' : 'does not'}`],
      };
  }
}
