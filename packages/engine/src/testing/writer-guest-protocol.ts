/** Shared between the writer guest and its worker: the control words and the start data. */
export const Control = {
  // index of the state word and its values
  STATE: 0,
  RUNNING: 0,
  PAUSE_REQUESTED: 1,
  PAUSED: 2,
  STOP: 3,
  // index of the write counter
  WRITES: 1,
  // index of the throttle, percent of the write rate taken away (auto-converge)
  THROTTLE: 2,
} as const;

export interface WriterGuestData {
  /** Each region's shared buffer, or the addon mapping the worker attaches to (`GuestMemory.map`). */
  readonly regions: (SharedArrayBuffer | { readonly mappingId: number })[];
  readonly dirty: SharedArrayBuffer[];
  readonly control: SharedArrayBuffer;
  readonly pageSize: number;
  readonly pagesPerSec: number;
  /** Writes go to the first fraction of each region's pages (the writable working set). */
  readonly workingSetFraction: number;
  readonly seed: number;
  /** 0: each write rewrites a whole page with a pattern; N: each write changes N bytes of the page. */
  readonly writeBytes: number;
  /** Which page each write goes to: at random in the working set, or sweeping it in order. */
  readonly pattern: 'random' | 'sequential';
}
