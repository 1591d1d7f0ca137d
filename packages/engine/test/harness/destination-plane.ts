import type { DestinationControlPlane, GuestMemory, IncomingGuest, MemoryLayout, PostcopyAccess } from '../../src/index.ts';

export type DestinationHook = 'admit' | 'allocate' | 'prepare' | 'loadDeviceState' | 'resume' | 'discard';

export interface ResumeCall {
  readonly memory: GuestMemory;
  readonly deviceState: Uint8Array;
  readonly postcopy: PostcopyAccess | undefined;
}

/** A destination control plane that records every call, in order, and what it was given. */
export interface RecordingDestinationPlane extends DestinationControlPlane {
  /** Every hook called, in order. */
  readonly calls: DestinationHook[];
  readonly admitted: IncomingGuest[];
  readonly allocated: MemoryLayout[];
  /** Copies of the device states `loadDeviceState` was given. */
  readonly loaded: Uint8Array[];
  readonly resumed: ResumeCall[];
  readonly discarded: Error[];
  count(hook: DestinationHook): number;
}

/**
 * Wraps `hooks` (default: accept everything and do nothing) so that every call is recorded
 * before the hook runs. `admit`, `allocate` and `prepare` exist only when given, so the engine's own
 * defaults (fresh zeroed memory, no veto) stay in force otherwise.
 */
export function recordingDestinationPlane(hooks: Partial<DestinationControlPlane> = {}): RecordingDestinationPlane {
  const calls: DestinationHook[] = [];
  const admitted: IncomingGuest[] = [];
  const allocated: MemoryLayout[] = [];
  const loaded: Uint8Array[] = [];
  const resumed: ResumeCall[] = [];
  const discarded: Error[] = [];
  const { admit, allocate, prepare } = hooks;
  return {
    calls,
    admitted,
    allocated,
    loaded,
    resumed,
    discarded,
    count: (hook) => calls.filter((c) => c === hook).length,
    ...(admit && {
      admit: (guest: IncomingGuest) => {
        calls.push('admit');
        admitted.push(guest);
        return admit(guest);
      },
    }),
    ...(allocate && {
      allocate: (layout: MemoryLayout) => {
        calls.push('allocate');
        allocated.push(layout);
        return allocate(layout);
      },
    }),
    ...(prepare && {
      prepare: (memory: GuestMemory) => {
        calls.push('prepare');
        return prepare(memory);
      },
    }),
    loadDeviceState: (state, memory) => {
      calls.push('loadDeviceState');
      loaded.push(state.slice());
      return hooks.loadDeviceState?.(state, memory);
    },
    resume: (memory, deviceState, postcopy) => {
      calls.push('resume');
      resumed.push({ memory, deviceState, postcopy });
      return hooks.resume?.(memory, deviceState, postcopy);
    },
    discard: (reason) => {
      calls.push('discard');
      discarded.push(reason);
      return hooks.discard?.(reason);
    },
  };
}
