/** Shared between the key-value guest's host side (kv-guest.ts) and its worker. */

/** The control word: index 0 of an Int32Array over `GuestBoot.control`. */
export const Control = {
  STATE: 0,
  RUNNING: 0,
  PAUSE_REQUESTED: 1,
  PAUSED: 2,
} as const;

/** The worker's first message: its code is loaded; it waits for a `GuestBoot`. */
export interface GuestLoaded {
  readonly type: 'loaded';
}

/**
 * The host's message that gives the worker its memory: the worker attaches to it, opens its
 * server socket and answers `GuestPrepared`; the guest runs at `GuestStart`.
 */
export interface GuestBoot {
  readonly type: 'boot';
  /** The guest's one memory region: shared memory, or an addon mapping the worker attaches to. */
  readonly memory: SharedArrayBuffer | { readonly mappingId: number };
  /** The write barrier's bitmaps (`WriteBarrierTracker.sharedBuffers()`). */
  readonly dirty: SharedArrayBuffer[];
  readonly control: SharedArrayBuffer;
  /** Float64 register file: initial registers in, registers at each park out. */
  readonly registerFile: SharedArrayBuffer;
  /** True: format memory and boot fresh. False: resume over existing memory with the registers. */
  readonly boot: boolean;
  /** Which host runs this guest, as INFO reports it. */
  readonly hostName: string;
  readonly churnPagesPerSec: number;
  readonly pageSize: number;
}

/** The worker's answer to `GuestBoot`: memory attached, server socket open, waiting for `GuestStart`. */
export interface GuestPrepared {
  readonly type: 'prepared';
  readonly port: number;
}

/** The host's signal to run (the registers are in the register file by then). */
export interface GuestStart {
  readonly type: 'start';
}

/** The worker's answer to `GuestStart`: the guest serves requests on `port`. */
export interface GuestReady {
  readonly type: 'ready';
  readonly port: number;
  readonly keys: number;
  readonly generation: number;
  readonly startMs: number;
}
