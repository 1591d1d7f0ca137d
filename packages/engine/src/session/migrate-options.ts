import type { Kernels } from '../accel/kernels.ts';
import type { CompressionMode } from '../codec/batch-encoder.ts';
import type { DirtyTracker } from '../dirty/tracker.ts';
import type { SwitchoverPolicy } from '../estimate/policy.ts';
import type { SwitchoverHistory } from '../estimate/switchover-history.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import type { Pacer } from '../transport/pacer.ts';
import type { TlsOptions } from '../transport/tls-options.ts';
import type { Clock } from '../util/clock.ts';
import type { SourceControlPlane } from './control-plane.ts';
import type { MigrationEvent } from './events.ts';

/** What `migrate()` takes: the guest, where it goes, and how (every option with its default). */
export interface MigrateOptions {
  /** Where the destination listens: a name or address (beyond loopback: `psk`, `tls` or `insecure`). */
  readonly host: string;
  /** The destination's TCP port. */
  readonly port: number;
  /** The guest's memory (`GuestMemory.create`, `wrap` or `map`); the engine reads it and never writes it. */
  readonly memory: GuestMemory;
  /** Finds the pages the running guest writes; must cover every region of `memory`. */
  readonly tracker: DirtyTracker;
  /** The hooks through which the engine pauses, resumes and releases the guest and takes its device state. */
  readonly controlPlane: SourceControlPlane;
  /** The control plane's name for the guest, shown to the destination (its `admit` hook). Default empty. */
  readonly guestId?: string;
  /**
   * - `precopy` (default): iterate rounds while the guest runs, then stop and copy the rest.
   * - `postcopy`: pause at once, resume the guest on the destination, and send memory after,
   *   on demand and in the background. Downtime does not grow with memory size; the guest runs
   *   slower until its pages have arrived, and a broken connection then stops it (both sides
   *   keep their state).
   * - `hybrid`: pre-copy first; switch to post-copy as soon as pre-copy cannot fit
   *   `maxDowntimeMs` (after round 1 at the earliest, see `hybridPolicy`).
   * The destination needs a guest that waits for missing pages (`PostcopyPager`).
   */
  readonly strategy?: 'precopy' | 'postcopy' | 'hybrid';
  /** Post-copy: push the pages right after each requested one first (guests touch memory in runs). Default true. */
  readonly prepaging?: boolean;
  /**
   * The downtime limit, ms (QEMU's downtime-limit; default 300). A promise: the default policy
   * pauses the guest only when the predicted downtime (the whole blackout: pause, final round,
   * device state, verification, handover, resume) fits it. When pre-copy cannot get there, see
   * `onWontConverge`.
   */
  readonly maxDowntimeMs?: number;
  /** Pre-copy rounds at most before `onWontConverge` applies. Default 30. */
  readonly maxRounds?: number;
  /**
   * What happens when pre-copy cannot fit `maxDowntimeMs` (judged from the write model after
   * round 1, a stall, `maxRounds` or `convergeTimeoutMs`), once the control plane's `throttle`
   * hook, where there is one, has slowed the guest to 99%:
   * - `abort` (default for `precopy`): the guest keeps running here while rounds go on until
   *   `maxRounds` or `convergeTimeoutMs`, then the migration fails with FERRY_WONT_CONVERGE;
   * - `switchover`: pause anyway; the report says `switchover.limitExceeded`;
   * - `postcopy`: what `strategy: 'hybrid'` does (pass that strategy instead).
   */
  readonly onWontConverge?: 'abort' | 'switchover';
  /** The bound on pre-copy, ms. Default 60 s plus 30 s per GiB of guest memory. */
  readonly convergeTimeoutMs?: number;
  /**
   * Decides after every round: continue, switch over, throttle the guest, or abort. Default:
   * `defaultPolicy(maxDowntimeMs, maxRounds, …)` (hybrid: `hybridPolicy`); compose others from `policies`.
   */
  readonly policy?: SwitchoverPolicy;
  /**
   * Cap on the rate page data is sent, bytes per second (like QEMU's max-bandwidth). Default
   * 0: unlimited. Pass a `Pacer` instead to change the cap while the migration runs.
   */
  readonly maxBandwidth?: number | Pacer;
  /**
   * The device state's expected size in bytes, for the downtime prediction (it is sent while
   * the guest is paused; `saveDeviceState` runs only then). Default 0.
   */
  readonly deviceStateBytes?: number;
  /**
   * Earlier switchovers between these hosts: the prediction adds what they showed it to miss
   * (a robust line through their misses, see `SwitchoverHistory`), and this migration is recorded in it when it completes. Keep one per pair
   * of hosts and control plane. Default: none, and the fixed part is what can be timed here.
   */
  readonly switchoverHistory?: SwitchoverHistory;
  /**
   * A separate cap for the final round, sent while the guest is paused (bytes per second; 0:
   * uncapped): the pacer enforces it, so pre-copy can stay polite to a shared network while the
   * stop-and-copy takes more. The downtime prediction assumes the final round runs at exactly
   * this rate, so give no more than the link carries. Unlike QEMU's avail-switchover-bandwidth,
   * which is only a hint to QEMU's downtime estimate and limits nothing, this is a limit.
   * Default: the same cap as pre-copy (`maxBandwidth`).
   */
  readonly switchoverBandwidth?: number;
  /**
   * Page encodings: `off` (default; RAW and ZERO), `lz4`, `xbzrle`, or `adaptive` (zero, dedup,
   * XBZRLE deltas, and LZ4 where the measured cost model says it delivers sooner).
   */
  readonly compression?: CompressionMode;
  /** The source's XBZRLE cache of page contents as sent. Default 64 MiB. */
  readonly xbzrleCacheBytes?: number;
  /**
   * TCP connections for page data, the control connection included (like QEMU's multifd).
   * Default 1. Pages are striped over them by address so that copies of a page stay in order.
   */
  readonly channels?: number;
  /** Pages per PAGES frame. Default 256. */
  readonly batchPages?: number;
  /**
   * How the migration is verified (docs/protocol.md §4). Before the guest resumes the
   * destination's digest of what it wrote always equals the source's; the modes differ in what
   * the source's digest covers and what catches a tracker that misses writes:
   * - `auto` (default): `tracker` where a second tracker can run (`verifyTracker`, or the kernel's
   *   write tracking on memory the addon mapped), else `sent`.
   * - `tracker`: the pages as sent, and the tracker checked against an independent second one at
   *   every sync and at the pause; pages it missed are sent before the resume. Costs one more
   *   sync during downtime, not a pass over memory.
   * - `sent`: the pages as sent; trusts the tracker until the audit.
   * - `memory`: hashes all guest memory while paused (the pause grows with memory size).
   * Except with `memory`, the frozen source is then audited after the resume (`audit`).
   */
  readonly verify?: 'auto' | 'tracker' | 'sent' | 'memory';
  /** The second tracker for `verify: 'tracker'` (another mechanism than `tracker`'s). Default: the kernel's, where it can run. */
  readonly verifyTracker?: DirtyTracker;
  /**
   * After the resume, before `release`, hash the frozen source memory off the event loop and
   * compare every page with what was sent (`report.verification.audit`, an `audit` event).
   * Default true (ignored with `verify: 'memory'`, which checked it all during the pause).
   */
  readonly audit?: boolean;
  /** Hashing kernels; default: the native addon if it loads, else the TypeScript fallback. */
  readonly kernels?: Kernels;
  /**
   * A pre-shared key: the source then sends only to a destination that proves it knows the
   * key, and proves it knows it too (HMAC challenge-response, nonces from both sides, no key
   * on the wire). Both sides must be given the same key. Default none.
   */
  readonly psk?: Uint8Array;
  /** Mutual TLS: encrypt and authenticate the whole stream (both sides need certificates from `ca`). Default none. */
  readonly tls?: TlsOptions;
  /**
   * Migrate to a host that is not loopback (127.0.0.0/8, ::1, `localhost`) without `psk` or
   * `tls`: the guest's memory then crosses the network in the clear to whoever answers at that
   * address. Default false: such a call fails at once with `FERRY_INSECURE`. Set it only on a
   * network you trust (a private link, a namespace of your own).
   */
  readonly insecure?: boolean;
  /**
   * Cancels the migration: before COMMIT the guest resumes on the source and the call rejects
   * with FERRY_ABORTED; once COMMIT is sent it is ignored, since the destination may run the
   * guest. Default none (`MigrationHandle.cancel()` does the same).
   */
  readonly signal?: AbortSignal;
  /** Receives every `MigrationEvent` as it happens; a listener that throws is ignored. Default none. */
  readonly onEvent?: (event: MigrationEvent) => void;
  /** How long opening the connection may take. Default 10 s (5 s per attempt when reconnecting). */
  readonly connectTimeoutMs?: number;
  /** How long each handshake reply (and each recovery message) may take. Default 10 s. */
  readonly handshakeTimeoutMs?: number;
  /** The migration fails when the connection moves no byte either way for this long. Default 30 s. */
  readonly idleTimeoutMs?: number;
  /**
   * Once a frame's first byte has arrived, the whole frame must arrive within this plus its size
   * at 32 KiB/s (`MIN_FRAME_RATE_BYTES_PER_SEC`), or the connection fails with FERRY_TIMEOUT:
   * a peer trickling bytes cannot hold a frame open. Default 10 s (`FRAME_DEADLINE_MS`); see
   * docs/limits.md before lowering it.
   */
  readonly frameDeadlineMs?: number;
  /**
   * Pre-copy: how long to keep reconnecting when the connection breaks while the guest still
   * runs here; 0 (default) fails the migration at once (the guest runs on). On reconnection the
   * destination says which pages it never received, and those plus the pages of the rounds it
   * had not acknowledged go again, no more. The destination must allow it (`recoveryTimeoutMs`).
   */
  readonly precopyRecoveryMs?: number;
  /**
   * Post-copy only: how long to keep reconnecting when the connection breaks while the guest
   * runs on the destination without all its pages. Default 30 s; then `FERRY_POSTCOPY_INTERRUPTED`.
   */
  readonly recoveryTimeoutMs?: number;
  /** How long the destination may take from COMPLETE to RESUMED. Default 60 s. */
  readonly handoverTimeoutMs?: number;
  /** The time source, for tests. Default the system's monotonic clock. */
  readonly clock?: Clock;
}
