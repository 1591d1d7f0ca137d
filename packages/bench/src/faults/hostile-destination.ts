/**
 * Hostile peers against a destination: strangers at the door (hostile-door.ts), strangers whose
 * HELLO was accepted (hostile-session.ts), and strangers racing a real source (hostile-race.ts).
 * The destination must refuse each with a typed error and close it within twice its timeout,
 * never run a guest for it, and still take a real source's guest byte for byte.
 */
import { atTheDoor } from './hostile-door.ts';
import { strangerJoins, strangerRaces } from './hostile-race.ts';
import type { HostileScenario } from './hostile-scenarios.ts';
import { afterTheDoor } from './hostile-session.ts';
import type { Observation } from './observation.ts';
import type { Rng } from './rng.ts';

const AFTER_THE_DOOR: readonly HostileScenario[] = [
  'out-of-state-each-type',
  'truncated-each-type',
  'idle-after-hello',
  'trickle-pages',
  'in-state-malformed',
];

export function againstDestination(scenario: HostileScenario, rng: Rng): Promise<Observation> {
  if (scenario === 'stranger-races-source') return strangerRaces(rng);
  if (scenario === 'stranger-joins-session') return strangerJoins(rng);
  return AFTER_THE_DOOR.includes(scenario) ? afterTheDoor(scenario, rng) : atTheDoor(scenario, rng);
}
