/** A monotonic clock in milliseconds. Injected so that policy and tests share one notion of time. */
export interface Clock {
  nowMs(): number;
}

export const systemClock: Clock = {
  nowMs: () => performance.now(),
};
