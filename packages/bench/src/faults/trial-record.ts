/** One trial's entry in the results: what ran, what the fault did, how each side ended, the verdict. */
import type { TrialClass } from './classifier.ts';
import type { InjectedFault } from './fault.ts';
import type { SideEnd } from './observation.ts';
import type { MigrationSetup } from './trial-plan.ts';

export interface TrialRecord {
  readonly trial: number;
  readonly seed: number;
  readonly kind: 'fault' | 'kill' | 'hostile';
  readonly cell: string;
  readonly fault?: string;
  readonly setup?: MigrationSetup;
  readonly class: TrialClass;
  readonly reasons: readonly string[];
  /** What the fault did; absent when its frame never crossed (the trial ran without a fault). */
  readonly injected?: InjectedFault;
  readonly source: { readonly end: SideEnd; readonly calls: readonly string[] };
  readonly destination: { readonly end: SideEnd; readonly calls: readonly string[] };
  /** Notable events (reconnections, interruptions) in order. */
  readonly events: readonly string[];
  readonly durationMs: number;
}
