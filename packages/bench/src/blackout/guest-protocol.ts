/** What the blackout guest worker and its handle share. */
export const HEARTBEAT_MS = 10;

/** Indices into the control words. */
export const Ctl = { PAUSE: 0, PARKED: 1, STOP: 2 } as const;

/** What the worker starts with; its memory comes later (`GuestAttach`). */
export interface GuestData {
  readonly control: SharedArrayBuffer;
  /** Float64Array: [count, stamp, stamp, ...], milliseconds on CLOCK_MONOTONIC. */
  readonly heartbeats: SharedArrayBuffer;
  readonly pagesPerSec: number;
  readonly hotPages: number;
}

/** The guest's memory (an addon mapping the worker attaches to), once there is one. */
export interface GuestAttach {
  readonly mappingId: number;
  readonly pageSize: number;
  /** The write barrier's bitmap (source only). */
  readonly dirty?: SharedArrayBuffer;
}
