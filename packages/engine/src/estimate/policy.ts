/**
 * Switchover policy: after every pre-copy round the engine hands the round's figures to a
 * policy, a pure function, and does what it says. A control plane may pass its own; the
 * built-ins below compose with `firstOf`. Pure, so tests and benchmarks run the same policy
 * the engine runs.
 */

/** What pre-copy knows after a round, at the sync that starts the next one. */
export interface RoundFigures {
  /** Rounds sent so far, round 0 included. */
  readonly roundsSent: number;
  /** Milliseconds since the migration started. */
  readonly elapsedMs: number;
  /** Pages found dirty at this sync. */
  readonly dirtyPages: number;
  /** Dirty pages at each sync after round 0, oldest first, this one last. */
  readonly dirtyHistory: readonly number[];
  /** Pages dirtied per second over the last round. */
  readonly dirtyPagesPerSec: number;
  /**
   * The link's rate, smoothed over windows of continuous sending (`LinkRateEstimator`): idle
   * gaps and the first burst into empty buffers are left out; never above a cap.
   */
  readonly bandwidthBytesPerSec: number;
  /** Wire bytes a dirty page costs (page plus entry, or less with compression). */
  readonly bytesPerPage: number;
  /** Downtime predicted if the guest were paused now. */
  readonly predictedDowntimeMs: number;
  /** The throttle the guest runs under now, 0..99 percent. */
  readonly throttlePercent: number;
}

export type PolicyDecision =
  | { readonly action: 'continue' }
  | { readonly action: 'switchover'; readonly reason: string }
  | { readonly action: 'throttle'; readonly percent: number; readonly reason: string }
  | { readonly action: 'abort'; readonly reason: string }
  /** Pause and resume the guest on the destination now, fetching the rest on demand (`strategy: 'hybrid'`). */
  | { readonly action: 'postcopy'; readonly reason: string };

export type SwitchoverPolicy = (figures: RoundFigures) => PolicyDecision;

const CONTINUE: PolicyDecision = { action: 'continue' };

/** Syncs without a new low in the dirty set before pre-copy counts as stalled. */
export const STALL_ROUNDS = 3;

/** Whether the dirty set has not shrunk below its earlier best for `rounds` syncs in a row. */
export function stalled(history: readonly number[], rounds: number = STALL_ROUNDS): boolean {
  if (history.length <= rounds) return false;
  return Math.min(...history.slice(-rounds)) >= Math.min(...history.slice(0, -rounds));
}

/** The built-in policies. */
export const policies = {
  /** Switch over as soon as the predicted downtime fits `maxMs` (QEMU's downtime-limit). */
  downtimeLimit(maxMs: number): SwitchoverPolicy {
    return (f) => (f.predictedDowntimeMs <= maxMs ? { action: 'switchover', reason: 'converged' } : CONTINUE);
  },

  /**
   * A downtime limit that rises with time, as OpenStack Nova does: `startMs` at first, `stepMs`
   * more every `everyMs` of migration, never above `maxMs`.
   */
  steppedDowntime(o: { startMs: number; stepMs: number; everyMs: number; maxMs: number }): SwitchoverPolicy {
    return (f) => {
      const limit = Math.min(o.maxMs, o.startMs + Math.floor(f.elapsedMs / o.everyMs) * o.stepMs);
      return f.predictedDowntimeMs <= limit
        ? { action: 'switchover', reason: `converged under the stepped limit of ${limit} ms` }
        : CONTINUE;
    };
  },

  /** Nothing is dirty: another round sends nothing and cannot lower the fixed part of downtime. */
  nothingLeft(): SwitchoverPolicy {
    return (f) => (f.dirtyPages === 0 ? { action: 'switchover', reason: 'nothing-left' } : CONTINUE);
  },

  /** The dirty set stopped shrinking: switch over (or abort) instead of iterating forever. */
  stall(then: 'switchover' | 'abort' | 'postcopy' = 'switchover', rounds: number = STALL_ROUNDS): SwitchoverPolicy {
    return (f) => (stalled(f.dirtyHistory, rounds) ? { action: then, reason: 'no-progress' } : CONTINUE);
  },

  maxRounds(n: number, then: 'switchover' | 'abort' | 'postcopy' = 'switchover'): SwitchoverPolicy {
    return (f) => (f.roundsSent >= n ? { action: then, reason: 'max-rounds' } : CONTINUE);
  },

  /** A budget for the whole migration, and what happens when it is spent. */
  maxTotalTime(ms: number, then: 'switchover' | 'abort' | 'postcopy'): SwitchoverPolicy {
    return (f) => (f.elapsedMs >= ms ? { action: then, reason: 'max-total-time' } : CONTINUE);
  },

  /**
   * Auto-converge, as QEMU's: when the dirty set stalls, slow the guest through the control
   * plane's `throttle(percent)` hook, `initial` percent first, then `increment` more at each
   * further stall, up to `max`. Once at `max`, it leaves the decision to the next policy.
   */
  autoConverge(o: { initial?: number; increment?: number; max?: number; rounds?: number } = {}): SwitchoverPolicy {
    const initial = o.initial ?? 20;
    const increment = o.increment ?? 10;
    const max = o.max ?? 99;
    const rounds = o.rounds ?? 2;
    return (f) => {
      if (!stalled(f.dirtyHistory, rounds) || f.throttlePercent >= max) return CONTINUE;
      const percent = f.throttlePercent === 0 ? initial : Math.min(max, f.throttlePercent + increment);
      return { action: 'throttle', percent, reason: 'no-progress' };
    };
  },

  /**
   * The guest dirties memory at least as fast as the link carries it (dirty pages per second
   * times bytes per page over the measured bandwidth, at or above `ratio`, default 1), after
   * the first full round: more rounds cannot shrink the dirty set, so act now (`then`) instead
   * of waiting for the stall to show. Put it after `downtimeLimit`: a small working set may
   * still fit the limit however fast it is rewritten.
   */
  outrun(then: 'switchover' | 'abort' | 'postcopy' = 'postcopy', ratio = 1): SwitchoverPolicy {
    return (f) =>
      f.roundsSent >= 2 && f.bandwidthBytesPerSec > 0 && f.dirtyPagesPerSec * f.bytesPerPage >= ratio * f.bandwidthBytesPerSec
        ? { action: then, reason: 'outrun' }
        : CONTINUE;
  },

  /**
   * Pre-copy is shrinking the dirty set too slowly to reach `maxDowntimeMs` within `maxRounds`:
   * extrapolating the last round's shrink factor (dirty pages now over dirty pages before), the
   * rounds still needed to bring the prediction under the limit exceed the rounds left, or the
   * set does not shrink at all. Then act now (`then`) rather than after the rounds that would
   * not have helped. Needs two syncs of history.
   */
  wontConverge(maxDowntimeMs: number, maxRounds: number, then: 'switchover' | 'abort' | 'postcopy' = 'postcopy'): SwitchoverPolicy {
    return (f) => {
      const h = f.dirtyHistory;
      if (h.length < 2 || f.predictedDowntimeMs <= maxDowntimeMs || !Number.isFinite(f.predictedDowntimeMs)) return CONTINUE;
      const shrink = h[h.length - 1]! / Math.max(h[h.length - 2]!, 1);
      if (shrink >= 0.95) return { action: then, reason: 'wont-converge' };
      // Pages that would fit the limit, at the prediction's cost per page (an upper bound).
      const target = (f.dirtyPages * maxDowntimeMs) / f.predictedDowntimeMs;
      const needed = Math.ceil(Math.log(Math.max(target, 1) / Math.max(f.dirtyPages, 1)) / Math.log(shrink));
      return f.roundsSent + needed > maxRounds ? { action: then, reason: 'wont-converge' } : CONTINUE;
    };
  },

  /**
   * Switch to post-copy when `asked()` says so: the control plane's way to ask for it (for
   * example when a host must be drained now). Put it first in `firstOf`.
   */
  postcopyWhen(asked: () => boolean): SwitchoverPolicy {
    return () => (asked() ? { action: 'postcopy', reason: 'asked' } : CONTINUE);
  },

  /** The first policy that does not say continue decides. */
  firstOf(...list: readonly SwitchoverPolicy[]): SwitchoverPolicy {
    return (f) => {
      for (const p of list) {
        const d = p(f);
        if (d.action !== 'continue') return d;
      }
      return CONTINUE;
    };
  },
};

/**
 * The policy `migrate()` uses unless given one: switch over when the prediction fits
 * `maxDowntimeMs`, when nothing is left, when the dirty set stalls, or after `maxRounds`.
 */
export function defaultPolicy(maxDowntimeMs: number, maxRounds: number): SwitchoverPolicy {
  return policies.firstOf(policies.downtimeLimit(maxDowntimeMs), policies.nothingLeft(), policies.stall(), policies.maxRounds(maxRounds));
}

/**
 * The policy of `strategy: 'hybrid'`: switch over (stop-and-copy) when the prediction fits
 * `maxDowntimeMs` or nothing is left; switch to post-copy as soon as the guest is seen to
 * outrun the link or the dirty set shrinks too slowly to fit the limit within `maxRounds`, or
 * when pre-copy stalls or has run `maxRounds`, so a guest that dirties
 * memory faster than the link carries it still moves, without rounds that cannot help.
 */
export function hybridPolicy(maxDowntimeMs: number, maxRounds: number): SwitchoverPolicy {
  return policies.firstOf(
    policies.downtimeLimit(maxDowntimeMs),
    policies.nothingLeft(),
    policies.outrun('postcopy'),
    policies.wontConverge(maxDowntimeMs, maxRounds, 'postcopy'),
    policies.stall('postcopy'),
    policies.maxRounds(maxRounds, 'postcopy'),
  );
}
