import type { SourceScenario } from '../scenario.ts';
import { abortScenarios } from './abort.ts';
import { faultScenarios } from './faults.ts';
import { happyScenarios } from './happy.ts';
import { postcopyScenarios } from './postcopy.ts';
import { recoveryScenarios } from './recovery.ts';
import { refusalScenarios } from './refusals.ts';
import { v4Scenarios } from './v4.ts';

/** Every scenario of role source, in the order they run. */
export const SOURCE_SCENARIOS: readonly SourceScenario[] = [
  ...happyScenarios,
  ...refusalScenarios,
  ...faultScenarios,
  ...abortScenarios,
  ...recoveryScenarios,
  ...postcopyScenarios,
  ...v4Scenarios,
];
