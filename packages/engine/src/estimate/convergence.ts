/**
 * When pre-copy stops iterating, as a pure function of what the rounds measured.
 *
 * - `converged`: the predicted downtime fits the limit.
 * - `nothing-left`: no page is dirty; another round sends nothing and cannot lower the
 *   fixed part of downtime, so waiting longer only costs time.
 * - `no-progress`: the dirty set has not shrunk below its best for `STALL_ROUNDS` syncs in a
 *   row; the guest dirties pages as fast as the link sends them.
 * - `max-rounds`: the round budget is spent.
 */
export type SwitchoverReason = 'converged' | 'nothing-left' | 'no-progress' | 'max-rounds';

/** Syncs without a new low in the dirty set before pre-copy gives up iterating. */
export const STALL_ROUNDS = 3;

export interface ConvergenceInputs {
  /** Rounds sent so far (round 0 included). */
  readonly roundsSent: number;
  readonly maxRounds: number;
  readonly predictedDowntimeMs: number;
  readonly maxDowntimeMs: number;
  /** Dirty pages found at each sync after round 0, oldest first, the current one last. */
  readonly dirtyHistory: readonly number[];
}

export function switchoverReason(i: ConvergenceInputs): SwitchoverReason | undefined {
  if (i.predictedDowntimeMs <= i.maxDowntimeMs) return 'converged';
  const current = i.dirtyHistory[i.dirtyHistory.length - 1];
  if (current === 0) return 'nothing-left';
  if (i.dirtyHistory.length > STALL_ROUNDS) {
    const before = i.dirtyHistory.slice(0, -STALL_ROUNDS);
    const recent = i.dirtyHistory.slice(-STALL_ROUNDS);
    if (Math.min(...recent) >= Math.min(...before)) return 'no-progress';
  }
  if (i.roundsSent >= i.maxRounds) return 'max-rounds';
  return undefined;
}
