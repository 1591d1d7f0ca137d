/**
 * Downtime prediction, pure: what stopping the guest now would cost. The engine, the tests
 * and the benchmarks share this function so that a prediction is computed one way only.
 */

/**
 * The parts of downtime that do not depend on how many pages are dirty: measured by the engine
 * where they can be before the pause, allowances where they cannot (the hooks), and what a
 * history of earlier switchovers adds (see `DowntimePrediction.inputs` for the figures behind
 * a given prediction).
 */
export interface SwitchoverCosts {
  /** The control plane's `pause()` hook (half of `HOOKS_ALLOWANCE_MS`) and the final dirty sync (the last sync's cost). */
  readonly pauseMs: number;
  /**
   * The source's memory digest as timed before pre-copy (0 with `verify: 'sent'`): an upper
   * bound, since at the switchover it runs off-thread alongside the final round.
   */
  readonly digestMs: number;
  /** One round trip between the two engines; a switchover waits for two. */
  readonly roundTripMs: number;
  /**
   * What reaching a destination that sat idle adds to the first message: the switchover
   * begins so (pre-copy waits for the last round's acknowledgement before pausing).
   */
  readonly idleWakeMs: number;
  /** Device state's size over the link's rate. */
  readonly deviceStateMs: number;
  /**
   * The destination's own steps from COMPLETE to RESUMED (verify, load device state, `resume()`):
   * half of `HOOKS_ALLOWANCE_MS`, as nothing times them before the first switchover.
   */
  readonly resumeMs: number;
  /** Learnt from earlier switchovers (`SwitchoverHistory`): what the parts above and the transfer missed there. 0 without. */
  readonly learnedMs: number;
}

/**
 * Round trips a switchover waits for: COMPLETE to READY, COMMIT to RESUMED. (The final round
 * and the device state are not waited for: COMPLETE follows them on the same stream.)
 */
export const SWITCHOVER_ROUND_TRIPS = 2;

export interface DowntimeInputs {
  /** Pages that would be sent with the guest paused. */
  readonly dirtyPages: number;
  /** Wire bytes per page sent (page plus its entry). */
  readonly bytesPerPage: number;
  /** Measured rate at which the link takes page data. */
  readonly bandwidthBytesPerSec: number;
  /**
   * Bytes that leave without waiting for the link's rate: under a cap, the pacer's bucket
   * (refilled while the guest still ran) lets the first bytes of the final round out at the
   * host's speed, far above the cap. 0 when uncapped.
   */
  readonly burstBytes?: number;
  /** The fixed part, as its parts; or `fixedCostMs`, their sum. */
  readonly costs?: SwitchoverCosts;
  readonly fixedCostMs?: number;
}

/** A prediction and what produced it, so a control plane can see why it said what it said. */
export interface DowntimePrediction {
  readonly totalMs: number;
  /** Sending the dirty pages at the link's rate (after the burst). */
  readonly transferMs: number;
  /** Everything else: the sum of `inputs.costs`. */
  readonly fixedMs: number;
  readonly inputs: DowntimeInputs;
}

/**
 * The control plane's `pause()` and `resume()` hooks together: the engine cannot time them
 * before the first switchover, so this is an allowance, split evenly between the two.
 */
export const HOOKS_ALLOWANCE_MS = 1;

/** What the fixed costs are made of, as measured (see `switchoverCosts`). */
export interface SwitchoverMeasurements {
  /** The last dirty sync's time: the final round begins with one. 0 when not known (planning). */
  readonly syncMs: number;
  /** The source's memory digest, timed (0 with `verify: 'sent'`). */
  readonly digestMs: number;
  /** A round trip between the engines, timed. */
  readonly rttMs: number;
  /** An ECHO after silence less one back to back, timed; 0 when not known (planning). */
  readonly idleWakeMs?: number;
  /** `SwitchoverHistory.correctionMs(...)`, when the control plane keeps a history. */
  readonly learnedMs?: number;
  readonly deviceStateBytes: number;
  readonly bandwidthBytesPerSec: number;
}

/** The fixed costs of a switchover from what was measured, one way for the engine and the planner. */
export function switchoverCosts(m: SwitchoverMeasurements): SwitchoverCosts {
  return {
    pauseMs: HOOKS_ALLOWANCE_MS / 2 + m.syncMs,
    digestMs: m.digestMs,
    roundTripMs: Number.isFinite(m.rttMs) ? m.rttMs : 0,
    idleWakeMs: m.idleWakeMs ?? 0,
    deviceStateMs: m.bandwidthBytesPerSec > 0 ? (m.deviceStateBytes / m.bandwidthBytesPerSec) * 1000 : 0,
    resumeMs: HOOKS_ALLOWANCE_MS / 2,
    learnedMs: m.learnedMs ?? 0,
  };
}

/** The fixed part of downtime, from its parts. */
export function switchoverCostMs(c: SwitchoverCosts): number {
  const measured = c.pauseMs + c.digestMs + SWITCHOVER_ROUND_TRIPS * c.roundTripMs + c.idleWakeMs + c.deviceStateMs + c.resumeMs;
  // A correction may be negative (the parts over-count here), never below nothing.
  return Math.max(0, measured + c.learnedMs);
}

/** Predicted downtime with its parts; `totalMs` is Infinity while the bandwidth is still unknown. */
export function predictDowntime(i: DowntimeInputs): DowntimePrediction {
  const fixedMs = i.costs ? switchoverCostMs(i.costs) : (i.fixedCostMs ?? 0);
  if (!(i.bandwidthBytesPerSec > 0)) {
    // Nothing to send costs no transfer time, whatever the link.
    if (!(i.dirtyPages > 0)) return { totalMs: fixedMs, transferMs: 0, fixedMs, inputs: i };
    return { totalMs: Number.POSITIVE_INFINITY, transferMs: Number.POSITIVE_INFINITY, fixedMs, inputs: i };
  }
  const bytes = i.dirtyPages * i.bytesPerPage;
  const paced = Math.max(0, bytes - (i.burstBytes ?? 0));
  const transferMs = (paced / i.bandwidthBytesPerSec) * 1000;
  return { totalMs: transferMs + fixedMs, transferMs, fixedMs, inputs: i };
}

/** Predicted downtime in milliseconds; Infinity while the bandwidth is still unknown. */
export function predictDowntimeMs(i: DowntimeInputs): number {
  return predictDowntime(i).totalMs;
}
