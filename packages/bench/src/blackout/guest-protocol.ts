/** What the blackout guest worker and its handle share. */
export const HEARTBEAT_MS = 10;

/** Indices into the control words. */
export const Ctl = { PAUSE: 0, PARKED: 1, STOP: 2 } as const;

export interface GuestData {
  readonly mappingId: number;
  readonly pageSize: number;
  /** The write barrier's bitmap (source only). */
  readonly dirty?: SharedArrayBuffer;
  readonly control: SharedArrayBuffer;
  /** Float64Array: [count, stamp, stamp, ...], milliseconds on CLOCK_MONOTONIC. */
  readonly heartbeats: SharedArrayBuffer;
  readonly pagesPerSec: number;
  readonly hotPages: number;
}
