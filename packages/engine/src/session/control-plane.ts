import type { MessagePort } from 'node:worker_threads';
import type { GuestMemory } from '../memory/guest-memory.ts';
import type { MemoryLayout } from '../memory/layout.ts';

/** A hook may answer at once or with a promise. */
export type MaybePromise<T> = T | Promise<T>;

/**
 * What the embedding program does for the engine on the source host. Ferry moves memory; the
 * control plane owns the guest's execution and its devices.
 */
export interface SourceControlPlane {
  /** Stop the guest's vCPUs (or worker). Returns once no more guest writes can happen. */
  pause(): MaybePromise<void>;
  /**
   * Let the guest run again on this host. Called only when a migration fails before the
   * destination was told to commit: the guest keeps running here, nothing lost.
   */
  resume(): MaybePromise<void>;
  /** The guest's device state (registers, virtual devices) as an opaque blob; called while paused. */
  saveDeviceState(): MaybePromise<Uint8Array>;
  /** The destination runs the guest now; the source may free its copy. */
  release?(): MaybePromise<void>;
  /**
   * Slow the guest to `percent` (0..99) of its vCPU time so pre-copy converges (auto-converge);
   * 0 lifts the throttle. Called only by policies that throttle, and with 0 if the migration
   * then fails.
   */
  throttle?(percent: number): MaybePromise<void>;
}

/** A guest that asks to migrate here, as the destination's control plane sees it. */
export interface IncomingGuest {
  readonly guestId: string;
  readonly layout: MemoryLayout;
  readonly remote: string;
  readonly probe: boolean;
}

/** What the embedding program does for the engine on the destination host. */
export interface DestinationControlPlane {
  /**
   * Veto a guest before any memory is allocated: return a reason to refuse, or undefined to
   * accept. Also consulted by `probe()`.
   */
  admit?(guest: IncomingGuest): MaybePromise<string | undefined>;
  /**
   * Memory for the incoming guest. Default: fresh zeroed shared memory of the offered layout.
   * Must match the offered layout.
   */
  allocate?(layout: MemoryLayout): MaybePromise<GuestMemory>;
  /**
   * Get the guest ready to run on `memory` while pre-copy goes on, so that `resume` is only a
   * signal (as a QEMU destination waits paused with `-incoming`): start its worker or VMM
   * paused, load its code, open its sockets. Called once the migration is accepted, not awaited
   * by the transfer; the handover waits for it before `loadDeviceState`. A throw fails the
   * migration at once, and the source keeps the guest.
   */
  prepare?(memory: GuestMemory): MaybePromise<void>;
  /**
   * Apply the device state to the guest-to-be; a throw fails the migration and the source keeps
   * the guest. In post-copy it runs before the missing pages arrive: do not read guest memory
   * here (with `postcopyFaults: 'userfaultfd'` a missing page would block this thread for good).
   */
  loadDeviceState(state: Uint8Array, memory: GuestMemory): MaybePromise<void>;
  /**
   * Start the guest here. Called after the source committed; the guest is now this host's.
   * In post-copy `postcopy` is given: pages may still be missing, so the guest must wait for
   * each page before touching it (`PostcopyPager` in its worker, built from `presence` and
   * `port`, or `ensure` on this thread).
   */
  resume(memory: GuestMemory, deviceState: Uint8Array, postcopy?: PostcopyAccess): MaybePromise<void>;
  /** The migration failed before commit; drop whatever was prepared. */
  discard?(reason: Error): MaybePromise<void>;
}

/** What the destination's `resume` hook gets in post-copy, for a guest whose pages are still arriving. */
export interface PostcopyAccess {
  /** Per region, the shared presence bits: hand them to the guest's `PostcopyPager`. */
  readonly presence: readonly SharedArrayBuffer[];
  /** Transfer to the guest's worker for its `PostcopyPager` (page requests travel on it). */
  readonly port: MessagePort;
  /** For code on this thread: resolves once the page is here, asking the source for it first. */
  ensure(region: number, page: number): Promise<void>;
  /** Resolves when every page has arrived and the memory digest matched. */
  readonly complete: Promise<void>;
}
