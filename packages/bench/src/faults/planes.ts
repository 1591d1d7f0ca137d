/** Control planes for trial hosts that record every hook call (and what they were given). */
import type { DestinationControlPlane, GuestMemory, PostcopyAccess, SourceControlPlane } from '@ferry/engine';
import type { Rng } from './rng.ts';

/** The guest a source plane drives: a `WriterGuest`, or the main-thread guest of a host process. */
export interface DrivenGuest {
  pause(): void | Promise<void>;
  resume(): void;
  throttle?(percent: number): void;
}

export interface RecordingSource extends Required<Omit<SourceControlPlane, 'throttle'>> {
  throttle(percent: number): void;
  readonly calls: string[];
  /** Device states handed out, in order. */
  readonly saved: Uint8Array[];
}

/** `pause()` called and no `resume()` after it. */
export function pausedBy(calls: readonly string[]): boolean {
  return calls.lastIndexOf('pause') > calls.lastIndexOf('resume');
}

/** A source control plane over `guest` whose device state is `deviceState`; `onCall` runs first on every hook (a host process logs it). */
export function recordingSource(guest: DrivenGuest, deviceState: Uint8Array, onCall?: (hook: string) => void): RecordingSource {
  const calls: string[] = [];
  const saved: Uint8Array[] = [];
  const note = (hook: string): void => {
    calls.push(hook);
    onCall?.(hook);
  };
  return {
    calls,
    saved,
    pause: async () => {
      await guest.pause();
      note('pause');
    },
    resume: () => {
      note('resume');
      guest.resume();
    },
    saveDeviceState: () => {
      note('saveDeviceState');
      const copy = deviceState.slice();
      saved.push(copy);
      return copy;
    },
    release: () => note('release'),
    throttle: (percent) => {
      note(`throttle ${percent}`);
      guest.throttle?.(percent);
    },
  };
}

export interface RecordingDestination extends DestinationControlPlane {
  readonly calls: string[];
  /** Copies of the device states `loadDeviceState` was given. */
  readonly loaded: Uint8Array[];
  /** Pages the post-copy guest touched (each waited for first). */
  touched: number;
  /** The memory the guest was resumed on, once it was. */
  resumedMemory: GuestMemory | undefined;
}

export interface DestinationPlaneOptions {
  /** Post-copy: pages the guest touches, in order, once it runs here. */
  readonly touches: number;
  readonly rng: Rng;
  /** Memory for the guest (a host process maps files); default: the engine's. */
  readonly allocate?: DestinationControlPlane['allocate'];
  readonly onCall?: (hook: string) => void;
  readonly onDeviceState?: (state: Uint8Array) => void;
}

export function recordingDestination(o: DestinationPlaneOptions): RecordingDestination {
  const calls: string[] = [];
  const loaded: Uint8Array[] = [];
  const note = (hook: string): void => {
    calls.push(hook);
    o.onCall?.(hook);
  };
  const plane: RecordingDestination = {
    calls,
    loaded,
    touched: 0,
    resumedMemory: undefined,
    ...(o.allocate && { allocate: o.allocate }),
    loadDeviceState: (state) => {
      note('loadDeviceState');
      loaded.push(state.slice());
      o.onDeviceState?.(state);
    },
    resume: (memory, _state, access) => {
      note('resume');
      plane.resumedMemory = memory;
      if (access && o.touches > 0) void touch(memory, access, o.touches, o.rng, () => plane.touched++);
    },
    discard: () => note('discard'),
  };
  return plane;
}

/** The post-copy guest: touches `n` random pages one after the other, each fetched first. */
async function touch(memory: GuestMemory, access: PostcopyAccess, n: number, rng: Rng, done: () => void): Promise<void> {
  for (let i = 0; i < n; i++) {
    const region = rng.int(0, memory.regions.length - 1);
    const page = rng.int(0, memory.regions[region]!.pageCount - 1);
    try {
      await access.ensure(region, page);
    } catch {
      return;
    }
    done();
  }
}
