/**
 * Switchover policy: after every pre-copy round the engine hands the round's figures to a
 * policy, a pure function, and does what it says. A control plane may pass its own; the
 * built-ins below compose with `firstOf`. Pure, so tests and benchmarks run the same policy
 * the engine runs.
 */
import { projectConvergence } from './convergence.ts';

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
  /** Each round's time, sync to sync, in step with `dirtyHistory` (round 0 first). */
  readonly roundMsHistory: readonly number[];
  /** The prediction's part that does not grow with the pages (sync, device state, round trips, learned). */
  readonly fixedDowntimeMs: number;
  /** What one more dirty page adds to the prediction, ms. */
  readonly msPerPage: number;
}

export type PolicyDecision =
  | { readonly action: 'continue' }
  | { readonly action: 'switchover'; readonly reason: string }
  | { readonly action: 'throttle'; readonly percent: number; readonly reason: string }
  /** Fail the migration, the guest running on here: FERRY_WONT_CONVERGE when `wontConverge`, else FERRY_ABORTED. */
  | { readonly action: 'abort'; readonly reason: string; readonly wontConverge?: boolean }
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
   * Pre-copy cannot reach `maxDowntimeMs` within `maxRounds`: the write model fitted through the
   * last two rounds (`projectConvergence`) plays the rounds forward and none fits, or the fixed
   * part alone is above the limit. Then act now (`then`) rather than after rounds that would not
   * help. Needs two syncs (it decides after round 1 at the earliest).
   */
  wontConverge(maxDowntimeMs: number, maxRounds: number, then: 'switchover' | 'abort' | 'postcopy' = 'postcopy'): SwitchoverPolicy {
    return (f) => {
      const why = cannotConverge(f, maxDowntimeMs, maxRounds);
      return why ? { action: then, reason: why.reason, ...(then === 'abort' && { wontConverge: true }) } : CONTINUE;
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

/** Why pre-copy cannot reach the limit, with the figures that say so; undefined while it still may. */
export function cannotConverge(f: RoundFigures, maxDowntimeMs: number, maxRounds: number): { reason: string; detail: string } | undefined {
  if (f.predictedDowntimeMs <= maxDowntimeMs) return undefined;
  if (f.fixedDowntimeMs > maxDowntimeMs) {
    return { reason: 'fixed-above-limit', detail: `the downtime's fixed part alone is predicted at ${ms(f.fixedDowntimeMs)}` };
  }
  const n = f.dirtyHistory.length;
  if (n >= 2 && n === f.roundMsHistory.length) {
    const p = projectConvergence({
      rounds: f.dirtyHistory.slice(-2).map((dirtyPages, k) => ({ dirtyPages, ms: f.roundMsHistory[n - 2 + k]! })),
      msPerPage: f.msPerPage,
      fixedMs: f.fixedDowntimeMs,
      limitMs: maxDowntimeMs,
      roundsLeft: maxRounds - f.roundsSent,
    });
    if (!p.fits) {
      const model = Number.isFinite(p.workingSetPages)
        ? `${Math.round(p.writePagesPerSec)} page writes/s over ${Math.round(p.workingSetPages)} pages`
        : `${Math.round(p.writePagesPerSec)} new pages/s`;
      return { reason: 'wont-converge', detail: `the best round reachable is predicted at ${ms(p.bestMs)} (the guest: ${model})` };
    }
  }
  if (stalled(f.dirtyHistory)) return { reason: 'no-progress', detail: `the dirty set stopped shrinking at ${f.dirtyPages} pages` };
  return undefined;
}

function ms(x: number): string {
  return `${x.toFixed(1)} ms`;
}

/** What the built-in policies do once pre-copy cannot reach the limit (`MigrateOptions.onWontConverge`). */
export interface ConvergeOptions {
  /**
   * `abort` (pre-copy's default): keep the guest running here and iterating until the bound,
   * then fail with FERRY_WONT_CONVERGE; `postcopy` (hybrid's): hand over now and fetch the rest
   * on demand; `switchover`: pause anyway, over the limit, and say so in the report.
   */
  readonly onWontConverge: 'abort' | 'postcopy' | 'switchover';
  /** The bound on the whole pre-copy, ms (KubeVirt's completion timeout). */
  readonly convergeTimeoutMs: number;
  /** Whether the control plane can slow the guest: escalate through `throttle` first (auto-converge). */
  readonly throttle: boolean;
}

const THROTTLE = { initial: 20, increment: 10, max: 99 };

/**
 * The policy `migrate()` uses unless given one. The limit is a promise: it switches over only
 * when the prediction fits `maxDowntimeMs`. Once pre-copy cannot get there (`cannotConverge`)
 * it slows the guest through the control plane's `throttle` hook where there is one, then does
 * what `onWontConverge` says; `maxRounds` and `convergeTimeoutMs` bound it all.
 */
export function defaultPolicy(maxDowntimeMs: number, maxRounds: number, o: Partial<ConvergeOptions> = {}): SwitchoverPolicy {
  const then = o.onWontConverge ?? 'abort';
  const timeoutMs = o.convergeTimeoutMs ?? Number.POSITIVE_INFINITY;
  const giveUp = (reason: string, detail: string): PolicyDecision =>
    then === 'abort' ? { action: 'abort', reason: `${reason}: ${detail}`, wontConverge: true } : { action: then, reason };
  return (f) => {
    if (f.predictedDowntimeMs <= maxDowntimeMs) return { action: 'switchover', reason: f.dirtyPages === 0 ? 'nothing-left' : 'converged' };
    const predicted = `the prediction is ${ms(f.predictedDowntimeMs)} against a limit of ${ms(maxDowntimeMs)}`;
    if (f.elapsedMs >= timeoutMs) return giveUp('converge-timeout', `${Math.round(f.elapsedMs)} ms of pre-copy; ${predicted}`);
    if (f.roundsSent >= maxRounds) return giveUp('max-rounds', `${f.roundsSent} rounds; ${predicted}`);
    const why = cannotConverge(f, maxDowntimeMs, maxRounds);
    if (!why) return CONTINUE;
    if (o.throttle && f.throttlePercent < THROTTLE.max) {
      const percent = f.throttlePercent === 0 ? THROTTLE.initial : Math.min(THROTTLE.max, f.throttlePercent + THROTTLE.increment);
      return { action: 'throttle', percent, reason: why.reason };
    }
    // Abort waits for the bound: the guest runs on meanwhile, and its writes may yet calm down.
    return then === 'abort' ? CONTINUE : { action: then, reason: why.reason };
  };
}

/**
 * The policy of `strategy: 'hybrid'`: stop-and-copy when the prediction fits `maxDowntimeMs`;
 * post-copy as soon as pre-copy cannot get there (after round 1 at the earliest), when it has
 * run `maxRounds`, or at `convergeTimeoutMs`. It does not throttle: post-copy moves a guest that
 * outruns the link without slowing it for rounds.
 */
export function hybridPolicy(
  maxDowntimeMs: number,
  maxRounds: number,
  convergeTimeoutMs: number = Number.POSITIVE_INFINITY,
): SwitchoverPolicy {
  return defaultPolicy(maxDowntimeMs, maxRounds, { onWontConverge: 'postcopy', convergeTimeoutMs, throttle: false });
}
