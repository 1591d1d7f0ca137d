/**
 * What each trial of the campaign does, from its seed alone: `planTrial(seed, k)` is pure, so
 * `--seed N --trial K` replays trial K exactly (the same migration, the same fault on the same
 * frame; only the operating system's timing differs).
 *
 * Trials rotate through three families in blocks of ten: six fault trials (in this process),
 * three kill trials (source and destination as real processes) and one hostile peer. Within a
 * family, trial after trial walks a fixed list of cells (fault kind x strategy, phase x victim,
 * scenario), so the first few hundred trials cover every cell; the seed chooses the rest (the
 * guest, channels, recovery, compression, which frame, which bit).
 */
import { MessageType } from '@ferry/engine';
import type { Direction, Fault, FaultAction, FrameRegion, FrameTrigger } from './fault.ts';
import { HOSTILE_SCENARIOS, type HostileScenario } from './hostile-scenarios.ts';
import { Rng, trialSeed } from './rng.ts';

export type Strategy = 'precopy' | 'postcopy' | 'hybrid';
export const STRATEGIES: readonly Strategy[] = ['precopy', 'postcopy', 'hybrid'];
export type Compression = 'off' | 'lz4' | 'xbzrle' | 'adaptive';

/** Short on purpose, so that "hung past twice the timeouts" is measurable in seconds. */
export const TIMEOUTS = {
  handshakeTimeoutMs: 1500,
  idleTimeoutMs: 2000,
  recoveryTimeoutMs: 2500,
  handoverTimeoutMs: 3000,
  frameDeadlineMs: 3000,
} as const;

/** Largest guest a trial destination takes (a flipped size field must not allocate gigabytes). */
export const MAX_TRIAL_GUEST_BYTES: number = 64 * 2 ** 20;

/** The migration a trial runs. */
export interface MigrationSetup {
  readonly strategy: Strategy;
  /** Pre-copy: reconnect a broken connection (`precopyRecoveryMs`); post-copy: recovery timeout as above, or 0. */
  readonly recovery: boolean;
  readonly channels: number;
  readonly compression: Compression;
  readonly psk: boolean;
  /** Region sizes in MiB. */
  readonly regionsMiB: readonly number[];
  /** Share of pages written before the migration. */
  readonly fillFraction: number;
  /** The source guest's writes per second while it runs. */
  readonly pagesPerSec: number;
  readonly deviceStateBytes: number;
  /** Pre-copy rounds before the switchover (pre-copy) or the switch to post-copy (hybrid). */
  readonly rounds: number;
  /** Post-copy: pages the destination's guest touches, in order, as soon as it runs. */
  readonly postcopyTouches: number;
}

export type TrialPlan =
  | {
      readonly kind: 'fault';
      readonly trial: number;
      readonly seed: number;
      readonly setup: MigrationSetup;
      readonly fault: Fault;
      readonly cell: string;
    }
  | {
      readonly kind: 'kill';
      readonly trial: number;
      readonly seed: number;
      readonly setup: MigrationSetup;
      readonly fault: Fault;
      readonly cell: string;
    }
  | { readonly kind: 'hostile'; readonly trial: number; readonly seed: number; readonly scenario: HostileScenario; readonly cell: string };

/** Milliseconds after which a trial that has not ended counts as hung: twice the timeouts that may run one after another, plus the transfer. */
export function hangLimitMs(setup?: MigrationSetup): number {
  const t = TIMEOUTS;
  const chained = t.handshakeTimeoutMs + t.idleTimeoutMs + t.recoveryTimeoutMs + t.handoverTimeoutMs + t.frameDeadlineMs;
  const mib = setup ? setup.regionsMiB.reduce((a, b) => a + b, 0) : 8;
  return 2 * chained + 5_000 + mib * 250;
}

const FAULT_KINDS = [
  'flip-header',
  'flip-page-data',
  'flip-page-entries',
  'flip-device-state',
  'flip-control',
  'reset',
  'cut-after',
  'stall-short',
  'stall-long',
  'truncate-frame',
  'truncate-stream',
  'drop',
  'duplicate',
] as const;
type FaultKind = (typeof FAULT_KINDS)[number];

const M = MessageType;

/** The frames a migration of each strategy carries, by direction (without authentication). */
const FRAMES: Record<Strategy, Record<Direction, readonly number[]>> = {
  precopy: {
    'to-destination': [M.HELLO, M.ECHO, M.PAGES, M.ROUND_END, M.SWITCHOVER, M.DEVICE_STATE, M.COMPLETE, M.COMMIT],
    'to-source': [M.HELLO_ACCEPT, M.ECHO_REPLY, M.ROUND_ACK, M.READY, M.RESUMED],
  },
  postcopy: {
    'to-destination': [M.HELLO, M.POSTCOPY_ENTER, M.POSTCOPY_MISSING, M.DEVICE_STATE, M.COMMIT, M.PAGES, M.COMPLETE],
    'to-source': [M.HELLO_ACCEPT, M.READY, M.RESUMED, M.PAGE_REQUEST, M.POSTCOPY_DONE],
  },
  hybrid: {
    'to-destination': [M.HELLO, M.ECHO, M.PAGES, M.ROUND_END, M.POSTCOPY_ENTER, M.POSTCOPY_MISSING, M.DEVICE_STATE, M.COMMIT, M.COMPLETE],
    'to-source': [M.HELLO_ACCEPT, M.ECHO_REPLY, M.ROUND_ACK, M.READY, M.RESUMED, M.PAGE_REQUEST, M.POSTCOPY_DONE],
  },
};

/** A moment to kill a host at: a frame crossing, optionally only after another one has. */
interface KillPhase {
  readonly name: string;
  readonly type: number;
  readonly direction: Direction;
  readonly after?: number;
  /** Which occurrence, from 1; 'mid' picks one among the first pages of the guest. */
  readonly nth: number | 'mid';
  readonly when?: 'before' | 'after';
}

const KILL_PHASES: Record<Strategy, readonly KillPhase[]> = {
  precopy: [
    { name: 'HELLO', type: M.HELLO, direction: 'to-destination', nth: 1 },
    { name: 'round 0', type: M.PAGES, direction: 'to-destination', nth: 'mid' },
    { name: 'ROUND_END', type: M.ROUND_END, direction: 'to-destination', nth: 1 },
    { name: 'ROUND_ACK', type: M.ROUND_ACK, direction: 'to-source', nth: 1 },
    { name: 'SWITCHOVER (paused)', type: M.SWITCHOVER, direction: 'to-destination', nth: 1 },
    { name: 'final round (paused)', type: M.PAGES, direction: 'to-destination', after: M.SWITCHOVER, nth: 1 },
    { name: 'DEVICE_STATE (paused)', type: M.DEVICE_STATE, direction: 'to-destination', nth: 1 },
    { name: 'COMPLETE (paused)', type: M.COMPLETE, direction: 'to-destination', nth: 1 },
    { name: 'READY (paused)', type: M.READY, direction: 'to-source', nth: 1 },
    { name: 'COMMIT, before', type: M.COMMIT, direction: 'to-destination', nth: 1, when: 'before' },
    { name: 'COMMIT, after', type: M.COMMIT, direction: 'to-destination', nth: 1, when: 'after' },
    { name: 'RESUMED', type: M.RESUMED, direction: 'to-source', nth: 1 },
  ],
  postcopy: [
    { name: 'HELLO', type: M.HELLO, direction: 'to-destination', nth: 1 },
    { name: 'POSTCOPY_ENTER (paused)', type: M.POSTCOPY_ENTER, direction: 'to-destination', nth: 1 },
    { name: 'POSTCOPY_MISSING (paused)', type: M.POSTCOPY_MISSING, direction: 'to-destination', nth: 1 },
    { name: 'DEVICE_STATE (paused)', type: M.DEVICE_STATE, direction: 'to-destination', nth: 1 },
    { name: 'READY (paused)', type: M.READY, direction: 'to-source', nth: 1 },
    { name: 'COMMIT, before', type: M.COMMIT, direction: 'to-destination', nth: 1, when: 'before' },
    { name: 'COMMIT, after', type: M.COMMIT, direction: 'to-destination', nth: 1, when: 'after' },
    { name: 'RESUMED', type: M.RESUMED, direction: 'to-source', nth: 1 },
    { name: 'PAGE_REQUEST', type: M.PAGE_REQUEST, direction: 'to-source', nth: 1 },
    { name: 'post-copy pages', type: M.PAGES, direction: 'to-destination', after: M.COMMIT, nth: 'mid' },
    { name: 'COMPLETE', type: M.COMPLETE, direction: 'to-destination', nth: 1 },
    { name: 'POSTCOPY_DONE', type: M.POSTCOPY_DONE, direction: 'to-source', nth: 1 },
  ],
  hybrid: [
    { name: 'pre-copy pages', type: M.PAGES, direction: 'to-destination', nth: 'mid' },
    { name: 'ROUND_ACK', type: M.ROUND_ACK, direction: 'to-source', nth: 1 },
    { name: 'POSTCOPY_ENTER (paused)', type: M.POSTCOPY_ENTER, direction: 'to-destination', nth: 1 },
    { name: 'DEVICE_STATE (paused)', type: M.DEVICE_STATE, direction: 'to-destination', nth: 1 },
    { name: 'COMMIT, before', type: M.COMMIT, direction: 'to-destination', nth: 1, when: 'before' },
    { name: 'COMMIT, after', type: M.COMMIT, direction: 'to-destination', nth: 1, when: 'after' },
    { name: 'RESUMED', type: M.RESUMED, direction: 'to-source', nth: 1 },
    { name: 'post-copy pages', type: M.PAGES, direction: 'to-destination', after: M.COMMIT, nth: 'mid' },
    { name: 'POSTCOPY_DONE', type: M.POSTCOPY_DONE, direction: 'to-source', nth: 1 },
  ],
};

interface FaultCell {
  readonly kind: FaultKind;
  readonly strategy: Strategy;
}
interface KillCell {
  readonly phase: KillPhase;
  readonly strategy: Strategy;
  readonly who: 'source' | 'destination';
}

const FAULT_CELLS: readonly FaultCell[] = FAULT_KINDS.flatMap((kind) => STRATEGIES.map((strategy) => ({ kind, strategy })));
const KILL_CELLS: readonly KillCell[] = STRATEGIES.flatMap((strategy) =>
  KILL_PHASES[strategy].flatMap((phase) => (['source', 'destination'] as const).map((who) => ({ phase, strategy, who }))),
);

/** Families in each block of ten trials. */
const BLOCK = ['fault', 'kill', 'fault', 'hostile', 'fault', 'kill', 'fault', 'fault', 'kill', 'fault'] as const;

/** Cells per family, for the docs and the summary. */
export const CELL_COUNTS: { readonly fault: number; readonly kill: number; readonly hostile: number } = {
  fault: FAULT_CELLS.length,
  kill: KILL_CELLS.length,
  hostile: HOSTILE_SCENARIOS.length,
};

export function planTrial(seed: number, trial: number): TrialPlan {
  const block = Math.floor(trial / BLOCK.length);
  const slot = trial % BLOCK.length;
  const family = BLOCK[slot]!;
  const perBlock = BLOCK.filter((f) => f === family).length;
  const rank = BLOCK.slice(0, slot).filter((f) => f === family).length;
  const index = block * perBlock + rank;
  const rng = Rng.forTrial(seed, trial);
  const s = trialSeed(seed, trial);
  if (family === 'hostile') {
    const scenario = HOSTILE_SCENARIOS[index % HOSTILE_SCENARIOS.length]!;
    return { kind: 'hostile', trial, seed: s, scenario, cell: `hostile ${scenario}` };
  }
  if (family === 'kill') {
    const cell = KILL_CELLS[index % KILL_CELLS.length]!;
    const drawn = makeSetup(rng, cell.strategy, true);
    const p = cell.phase;
    // Hybrid post-copy pages are the pages dirtied in the last round: a guest that writes nothing leaves none.
    const setup = p.after === M.COMMIT && cell.strategy === 'hybrid' && drawn.pagesPerSec === 0 ? { ...drawn, pagesPerSec: 2000 } : drawn;
    const trigger: FrameTrigger = {
      direction: p.direction,
      types: [p.type],
      nth: p.nth === 'mid' ? rng.int(1, pagesFrames(setup, p.after !== undefined)) : p.nth,
      connection: 'any',
      ...(p.after !== undefined && { after: p.after }),
    };
    const action: FaultAction = { kind: 'kill', who: cell.who, when: p.when ?? (rng.chance(0.5) ? 'before' : 'after') };
    return { kind: 'kill', trial, seed: s, setup, fault: { trigger, action }, cell: `kill ${cell.who} ${cell.strategy} ${p.name}` };
  }
  const cell = FAULT_CELLS[index % FAULT_CELLS.length]!;
  const setup = makeSetup(rng, cell.strategy, false, cell.kind === 'flip-device-state');
  return { kind: 'fault', trial, seed: s, setup, fault: makeFault(rng, cell.kind, setup), cell: `${cell.kind} ${cell.strategy}` };
}

function makeSetup(rng: Rng, strategy: Strategy, processes: boolean, bigDeviceState = false): MigrationSetup {
  const recovery = rng.chance(0.5);
  // Pre-copy recovery works over one channel only (FERRY_INVALID_ARGUMENT otherwise).
  const channels = strategy === 'postcopy' || recovery ? 1 : rng.pick([1, 1, 2, 3]);
  const totalMiB = processes ? rng.pick([8, 16]) : rng.pick([8, 16, 24, 32]);
  const regionsMiB = rng.chance(0.3) ? [totalMiB / 2, totalMiB / 2] : [totalMiB];
  return {
    strategy,
    recovery,
    channels,
    compression: rng.pick(['off', 'off', 'adaptive', 'lz4', 'xbzrle'] as const),
    psk: rng.chance(0.3),
    regionsMiB,
    fillFraction: rng.int(3, 9) / 10,
    pagesPerSec: rng.pick([0, 500, 2000, 5000]),
    deviceStateBytes: bigDeviceState ? rng.pick([1024, 16_384, 65_536]) : rng.pick([16, 1024, 16_384, 65_536]),
    rounds: rng.int(1, 3),
    postcopyTouches: strategy === 'precopy' ? 0 : rng.int(0, 32),
  };
}

/** PAGES frames a migration of `setup` sends about (256 pages a frame); `late`: of the final or post-copy part. */
function pagesFrames(setup: MigrationSetup, late: boolean): number {
  const pages = (setup.regionsMiB.reduce((a, b) => a + b, 0) * 256 * setup.fillFraction) / 256;
  return Math.max(1, Math.floor(late ? pages / 4 : pages));
}

function makeFault(rng: Rng, kind: FaultKind, setup: MigrationSetup): Fault {
  const toDestination = rng.chance(0.6);
  let direction: Direction = toDestination ? 'to-destination' : 'to-source';
  let region: FrameRegion | undefined;
  let types: readonly number[] = FRAMES[setup.strategy][direction];
  switch (kind) {
    case 'flip-page-data':
    case 'flip-page-entries':
      direction = 'to-destination';
      types = [M.PAGES];
      region = kind === 'flip-page-data' ? 'page-data' : 'page-entries';
      break;
    case 'flip-device-state':
      direction = 'to-destination';
      types = [M.DEVICE_STATE];
      region = 'device-state';
      break;
    case 'flip-control':
      types = FRAMES[setup.strategy][direction].filter((t) => t !== M.PAGES && t !== M.COMMIT);
      region = 'body';
      break;
    case 'flip-header':
      region = 'header';
      break;
    case 'truncate-frame':
      region = 'body';
      break;
    default:
      break;
  }
  if (setup.psk && kind !== 'flip-page-data' && kind !== 'flip-page-entries' && kind !== 'flip-device-state' && rng.chance(0.2)) {
    types = direction === 'to-destination' ? [M.AUTH_SOURCE, M.AUTH_PROOF] : [M.AUTH_CHALLENGE];
  }
  const type = rng.pick(types);
  const nth = nthOf(rng, type, setup);
  const connection = type === M.PAGES && setup.channels > 1 && rng.chance(0.4) ? rng.int(1, setup.channels - 1) : 'any';
  const trigger: FrameTrigger = { direction, types: [type], nth, connection, ...(region && { region }) };
  return { trigger, action: makeAction(rng, kind, region) };
}

function nthOf(rng: Rng, type: number, setup: MigrationSetup): number {
  switch (type) {
    case M.PAGES:
      return rng.int(1, Math.max(1, Math.floor(pagesFrames(setup, false) / setup.channels)));
    case M.ROUND_END:
    case M.ROUND_ACK:
      return rng.int(1, setup.rounds);
    case M.ECHO:
    case M.ECHO_REPLY:
      return rng.int(1, 5);
    case M.PAGE_REQUEST:
      return rng.int(1, Math.max(1, Math.min(4, setup.postcopyTouches)));
    default:
      return 1;
  }
}

function makeAction(rng: Rng, kind: FaultKind, region: FrameRegion | undefined): FaultAction {
  const idle = TIMEOUTS.idleTimeoutMs;
  switch (kind) {
    case 'reset':
      return { kind: 'reset', when: 'before' };
    case 'cut-after':
      return { kind: 'reset', when: 'after' };
    case 'stall-short':
      return { kind: 'stall', ms: Math.round(idle * (0.2 + 0.5 * rng.float())) };
    case 'stall-long':
      return { kind: 'stall', ms: Math.round(idle * (1.3 + 1.2 * rng.float())) };
    case 'truncate-frame':
      return { kind: 'truncate-frame', keep: rng.float() };
    case 'truncate-stream':
      return { kind: 'truncate-stream', keep: rng.float() };
    case 'drop':
      return { kind: 'drop' };
    case 'duplicate':
      return { kind: 'duplicate' };
    default:
      return { kind: 'flip', region: region ?? 'body', where: rng.float() };
  }
}

/** The first trial of `seed` at or after `from` whose cell `wanted` picks (searching at most `within` trials). */
export function findTrial(seed: number, wanted: (cell: string) => boolean, from = 0, within = 2000): number {
  for (let k = from; k < from + within; k++) if (wanted(planTrial(seed, k).cell)) return k;
  throw new Error('no such trial in range');
}
