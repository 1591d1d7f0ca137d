import type { SourceControlPlane } from '../../src/index.ts';

export type SourceHook = 'pause' | 'resume' | 'saveDeviceState' | 'release' | 'throttle';

/** A source control plane that records every call, in order, and what it was given and returned. */
export interface RecordingSourcePlane extends Required<SourceControlPlane> {
  /** Every hook called, in order. */
  readonly calls: SourceHook[];
  /** The device states `saveDeviceState` returned. */
  readonly saved: Uint8Array[];
  /** The percentages `throttle` was called with. */
  readonly throttles: number[];
  /** `release` was called: the destination runs the guest now. */
  readonly released: boolean;
  count(hook: SourceHook): number;
}

/**
 * Wraps `hooks` (default: each does nothing, and `saveDeviceState` returns `deviceState`) so that
 * every call is recorded before the hook runs.
 */
export function recordingSourcePlane(
  hooks: Partial<SourceControlPlane> = {},
  deviceState: Uint8Array = new Uint8Array(0),
): RecordingSourcePlane {
  const calls: SourceHook[] = [];
  const saved: Uint8Array[] = [];
  const throttles: number[] = [];
  return {
    calls,
    saved,
    throttles,
    get released() {
      return calls.includes('release');
    },
    count: (hook) => calls.filter((c) => c === hook).length,
    pause: () => {
      calls.push('pause');
      return hooks.pause?.();
    },
    resume: () => {
      calls.push('resume');
      return hooks.resume?.();
    },
    saveDeviceState: () => {
      calls.push('saveDeviceState');
      const state = hooks.saveDeviceState ? hooks.saveDeviceState() : deviceState;
      if (!(state instanceof Promise)) {
        saved.push(state);
        return state;
      }
      return state.then((s) => {
        saved.push(s);
        return s;
      });
    },
    release: () => {
      calls.push('release');
      return hooks.release?.();
    },
    throttle: (percent) => {
      calls.push('throttle');
      throttles.push(percent);
      return hooks.throttle?.(percent);
    },
  };
}
