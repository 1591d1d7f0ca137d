import { onTestFinished } from 'vitest';
import {
  type DirtyTracker,
  GuestMemory,
  type MigrateOptions,
  type MigrationReport,
  migrate,
  type SourceControlPlane,
  WriteBarrierTracker,
} from '../../src/index.ts';
import { WriterGuest, type WriterGuestOptions } from '../../src/testing/index.ts';
import { type GuestShape, guestMemory, type RegionShape } from './guest-memory.ts';
import { type RecordingSourcePlane, recordingSourcePlane } from './source-plane.ts';

export interface SourceOptions extends GuestShape {
  /** The guest's memory, or the regions of a fresh one (`guestMemory(memory, shape)`). */
  readonly memory: GuestMemory | RegionShape | readonly RegionShape[];
  /** Start a `WriterGuest` (a worker writing self-checking pages through the write barrier); the hooks drive it. */
  readonly guest?: WriterGuestOptions;
  /** The tracker `migrate()` uses; default `barrier`, the write barrier the guest marks. */
  readonly tracker?: (memory: GuestMemory, barrier: WriteBarrierTracker) => DirtyTracker;
  /** Hooks instead of the defaults (nothing, or the guest's); every call is recorded either way. */
  readonly controlPlane?: Partial<SourceControlPlane>;
  /** What the default `saveDeviceState` returns when there is no guest; default empty. */
  readonly deviceState?: Uint8Array;
}

/** A source host: memory, trackers, maybe a running guest, and a control plane that records. */
export interface SourceHost {
  readonly memory: GuestMemory;
  readonly barrier: WriteBarrierTracker;
  readonly tracker: DirtyTracker;
  /** The writer guest; throws if `options.guest` was not given. */
  readonly guest: WriterGuest;
  readonly plane: RecordingSourcePlane;
  /** `migrate()` of this guest to a destination on 127.0.0.1 at `port`, with `overrides`. */
  migrateTo(port: number, overrides?: Partial<MigrateOptions>): Promise<MigrationReport>;
  /** Stops the guest. Idempotent; also runs when the test finishes. */
  close(): Promise<void>;
}

/** Sets up a source host; with `options.guest`, resolves once the guest is writing. Call inside a test. */
export async function sourceHost(options: SourceOptions): Promise<SourceHost> {
  const memory = options.memory instanceof GuestMemory ? options.memory : guestMemory(options.memory, options);
  const barrier = new WriteBarrierTracker(memory.layout);
  const tracker = options.tracker ? options.tracker(memory, barrier) : barrier;
  const guest = options.guest && new WriterGuest(memory, barrier, options.guest);
  const plane = recordingSourcePlane({ ...guest?.controlPlane(), ...options.controlPlane }, options.deviceState);
  const close = async (): Promise<void> => {
    await guest?.stop();
  };
  onTestFinished(close);
  await guest?.ready;
  return {
    memory,
    barrier,
    tracker,
    get guest(): WriterGuest {
      if (!guest) throw new Error('this source host has no guest: pass options.guest');
      return guest;
    },
    plane,
    migrateTo: (port, overrides = {}) => migrate({ host: '127.0.0.1', port, memory, tracker, controlPlane: plane, ...overrides }),
    close,
  };
}
