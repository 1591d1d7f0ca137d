import type { Kernels } from '../accel/kernels.ts';
import type { DirtyTracker } from '../dirty/tracker.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import type { TlsOptions } from '../transport/tls-options.ts';

/** What `plan()` takes (every option with its default). */
export interface PlanOptions {
  /** The destination: asked whether it takes the guest, and the link to it measured. */
  readonly host: string;
  /** The destination's TCP port. */
  readonly port: number;
  /** The pre-shared key, when the destination requires one (see `MigrateOptions.psk`). Default none. */
  readonly psk?: Uint8Array;
  /** Mutual TLS, when the destination requires it (see `MigrateOptions.tls`). Default none. */
  readonly tls?: TlsOptions;
  /** Plan towards a host that is not loopback without `psk` or `tls` (see `MigrateOptions.insecure`). Default false. */
  readonly insecure?: boolean;
  /** The guest's memory: sampled for zero pages and compressibility, and read once for the digest's cost. */
  readonly memory: GuestMemory;
  /** Samples the guest's dirty rate; stopped again afterwards (migrate() starts it anew). */
  readonly tracker: DirtyTracker;
  /** How long to sample the dirty rate. Default 1000 ms. */
  readonly sampleMs?: number;
  /** Bytes pushed to measure the link (at most 256 MiB). Default 64 MiB; ignored when `bandwidthBytesPerSec` is given. */
  readonly probeBytes?: number;
  /** The link's rate if already known (skips the measurement). Default: measured. */
  readonly bandwidthBytesPerSec?: number;
  /** The cap the migration will run under, bytes per second. Default 0: none. */
  readonly maxBandwidth?: number;
  /** The downtime limit to plan for, as `MigrateOptions.maxDowntimeMs`. Default 300 ms. */
  readonly maxDowntimeMs?: number;
  /** The most pre-copy rounds to plan for, as `MigrateOptions.maxRounds`. Default 30 rounds. */
  readonly maxRounds?: number;
  /** The device state's size, if known. Default 64 KiB. */
  readonly deviceStateBytes?: number;
  /** As `MigrateOptions.verify`: `memory` adds a pass over memory to the downtime; the others (default `auto`) do not. */
  readonly verify?: 'auto' | 'tracker' | 'memory' | 'sent';
  /** Hashing kernels. Default: the native addon if it loads, else the TypeScript fallback. */
  readonly kernels?: Kernels;
}
