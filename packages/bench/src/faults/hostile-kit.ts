/**
 * What the hostile scenarios share: a destination that records what it did, a real source of a
 * small still guest, and the observation of the real migration between them.
 */
import {
  type DestinationEvent,
  GuestMemory,
  type IncomingMigration,
  loadKernels,
  MigrationDestination,
  type MigrateOptions,
  migrate,
  WriteBarrierTracker,
} from '@ferry/engine';
import { findTornPages } from '@ferry/engine/testing';
import { compareGuests } from './compare.ts';
import { fillGuest } from './guest-fill.ts';
import type { Comparison, Observation, SideEnd } from './observation.ts';
import { pausedBy, type RecordingDestination, type RecordingSource, recordingDestination, recordingSource } from './planes.ts';
import { Rng } from './rng.ts';
import type { SampleContext } from './sample-frames.ts';
import { byDeadline, destinationOutcome, settle } from './settle.ts';
import { listenOptions } from './trial-options.ts';
import { hangLimitMs, TIMEOUTS } from './trial-plan.ts';

export const GUEST_ID = 'faults-guest';

export interface TrialDestination {
  readonly destination: MigrationDestination;
  readonly port: number;
  readonly plane: RecordingDestination;
  readonly events: DestinationEvent[];
  /** A migration was accepted (a session began). */
  accepted(): boolean;
  close(): Promise<void>;
}

export async function trialDestination(psk?: Uint8Array, rng = new Rng(1)): Promise<TrialDestination> {
  const plane = recordingDestination({ touches: 8, rng });
  const events: DestinationEvent[] = [];
  const destination = await MigrationDestination.listen(listenOptions(undefined, plane, psk, (e) => events.push(e)));
  return {
    destination,
    port: destination.port,
    plane,
    events,
    accepted: () => events.some((e) => e.type === 'phase'),
    close: () => destination.close(),
  };
}

/** A source guest that stands still (no writer): what a stranger's tests need is a real peer, not load. */
export interface RealSource {
  readonly memory: GuestMemory;
  readonly plane: RecordingSource;
  readonly deviceState: Uint8Array;
  readonly outcome: Promise<SideEnd>;
}

export function realSource(port: number, rng: Rng, options: Partial<MigrateOptions> & { sizeMiB?: number } = {}): RealSource {
  const memory = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: (options.sizeMiB ?? 8) * 2 ** 20 }] });
  fillGuest(memory, rng, 0.5);
  const tracker = new WriteBarrierTracker(memory.layout);
  const deviceState = rng.bytes(256);
  const plane = recordingSource({ pause: () => {}, resume: () => {} }, deviceState);
  const { sizeMiB: _size, ...rest } = options;
  const outcome = settle(
    migrate({
      host: '127.0.0.1',
      port,
      memory,
      tracker,
      controlPlane: plane,
      guestId: GUEST_ID,
      ...TIMEOUTS,
      ...rest,
    }),
  );
  return { memory, plane, deviceState, outcome };
}

/** How the destination's one migration ended, or `none` if it never accepted one. */
export function destinationEnd(d: TrialDestination, deadline: number): Promise<SideEnd> {
  return destinationOutcome(settle(d.destination.result), d.accepted, TIMEOUTS.handshakeTimeoutMs + 500, deadline);
}

/** The observation of a real source's migration to `d`, with `violations` of the scenario's own rules. */
export async function observeMigration(
  source: RealSource,
  d: TrialDestination,
  started: number,
  violations: string[],
  extra: Partial<Observation> = {},
): Promise<Observation> {
  const deadline = started + hangLimitMs();
  const sourceOutcome = await byDeadline(source.outcome, deadline);
  const destinationOutcome = await destinationEnd(d, deadline);
  let comparison: Comparison | undefined;
  if (destinationOutcome.end === 'completed') {
    const incoming: IncomingMigration = await d.destination.result;
    comparison = compareGuests(
      {
        pageSize: source.memory.pageSize,
        regions: source.memory.regions,
        deviceState: source.plane.saved.at(-1) ?? source.deviceState,
        guestId: GUEST_ID,
      },
      {
        pageSize: incoming.memory.pageSize,
        regions: incoming.memory.regions,
        deviceState: incoming.deviceState,
        guestId: incoming.guestId,
      },
    );
  }
  return {
    source: {
      outcome: sourceOutcome,
      paused: pausedBy(source.plane.calls),
      resumed: source.plane.calls.includes('resume'),
      released: source.plane.calls.includes('release'),
      calls: source.plane.calls,
      tornPages: findTornPages(source.memory).length,
    },
    destination: { outcome: destinationOutcome, resumed: d.plane.calls.includes('resume'), calls: d.plane.calls },
    ...(comparison && { comparison }),
    crashes: [],
    leaks: [],
    violations,
    durationMs: performance.now() - started,
    ...extra,
  };
}

/** The observation of a trial with no real source: strangers only, judged by what the destination did. */
export function strangersOnly(
  destination: SideEnd,
  resumed: boolean,
  calls: readonly string[],
  started: number,
  violations: string[],
): Observation {
  return {
    source: { outcome: { end: 'none' }, paused: false, resumed: false, released: false, calls: [], tornPages: 0 },
    destination: { outcome: destination, resumed, calls },
    crashes: [],
    leaks: [],
    violations,
    durationMs: performance.now() - started,
  };
}

export async function sampleContext(sessionId: Uint8Array): Promise<SampleContext> {
  const kernels = await loadKernels();
  return { sessionId, regions: [{ name: 'ram0', sizeBytes: 8 * 2 ** 20 }], pageSize: 4096, xxh64: (d) => kernels.xxh64(d) };
}
