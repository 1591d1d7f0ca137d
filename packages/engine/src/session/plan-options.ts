import type { Kernels } from '../accel/kernels.ts';
import type { DirtyTracker } from '../dirty/tracker.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import type { TlsOptions } from '../transport/tls-options.ts';

/** What `plan()` takes (every option with its default). */
export interface PlanOptions {
  /** The destination: asked whether it takes the guest, and the link to it measured. */
  readonly host: string;
  readonly port: number;
  readonly psk?: Uint8Array;
  readonly tls?: TlsOptions;
  /** Plan towards a host that is not loopback without `psk` or `tls` (see `MigrateOptions.insecure`). Default false. */
  readonly insecure?: boolean;
  readonly memory: GuestMemory;
  /** Samples the guest's dirty rate; stopped again afterwards (migrate() starts it anew). */
  readonly tracker: DirtyTracker;
  /** How long to sample the dirty rate. Default 1000 ms. */
  readonly sampleMs?: number;
  /** Bytes pushed to measure the link (at most 256 MiB). Default 64 MiB; ignored when `bandwidthBytesPerSec` is given. */
  readonly probeBytes?: number;
  /** The link's rate if already known (skips the measurement). */
  readonly bandwidthBytesPerSec?: number;
  /** The cap the migration will run under, bytes per second (0 or absent: none). */
  readonly maxBandwidth?: number;
  readonly maxDowntimeMs?: number;
  readonly maxRounds?: number;
  /** The device state's size, if known. Default 64 KiB. */
  readonly deviceStateBytes?: number;
  /** As `MigrateOptions.verify`: `memory` adds a pass over memory to the downtime; the others (default `auto`) do not. */
  readonly verify?: 'auto' | 'tracker' | 'memory' | 'sent';
  readonly kernels?: Kernels;
}
