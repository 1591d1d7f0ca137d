/** The source's downtime prediction during pre-copy, from what the rounds measured. */
import { type DowntimePrediction, predictDowntime, switchoverCosts } from '../estimate/downtime.ts';
import type { SwitchoverHistory } from '../estimate/switchover-history.ts';
import type { RoundSender } from './round-sender.ts';
import { PAGE_ENTRY_BYTES } from '../protocol/limits.ts';
import type { Pacer } from '../transport/pacer.ts';

/** What the predictor reads; the functions are read at each prediction (the connection may change). */
export interface SwitchoverPredictorInputs {
  readonly sender: RoundSender;
  readonly pacer: Pacer;
  readonly pageSize: number;
  /** `MigrateOptions.switchoverBandwidth`: undefined for the pre-copy cap, 0 for uncapped. */
  readonly switchoverBandwidth: number | undefined;
  readonly deviceStateBytes: number;
  readonly history: SwitchoverHistory | undefined;
  /** The source's memory digest, timed before pre-copy (0 with `verify: 'sent'`). */
  readonly digestCostMs: number;
  /** ECHO timings (NaN where the destination speaks version 1, or they failed). */
  readonly echo: { readonly warmMs: number; readonly coldMs: number };
  /** The TCP handshake's round trip: the last resort. */
  readonly connectRttMs: number;
  /** The HELLO exchange's round trip: an upper bound (the destination's admission is in it). */
  readonly handshakeRttMs: () => number;
  /** The shortest acknowledgement time so far (Infinity before the first). */
  readonly minAckRttMs: () => number;
  /** Bytes still queued in user space on the connection. */
  readonly queuedBytes: () => number;
}

/**
 * The engine's downtime prediction during pre-copy: what stopping the guest after this sync
 * would cost, from what was measured so far (`predictDowntime` and `switchoverCosts` do the
 * arithmetic). After the switchover it tells the control plane's `SwitchoverHistory` what it
 * missed.
 */
export class SwitchoverPredictor {
  private readonly i: SwitchoverPredictorInputs;
  /** The last dirty sync's time: the final round starts with a sync of its own. */
  lastSyncCostMs = 0;

  constructor(inputs: SwitchoverPredictorInputs) {
    this.i = inputs;
  }

  /**
   * The prediction at a sync that found `dirtyPages`, the guest dirtying `dirtyPagesPerSec`:
   * - pages: those plus what the guest dirties until the pause (its rate over the time the
   *   queue takes to drain and the last round to be acknowledged);
   * - bytes per page: the last round's codec mix (ZERO entries, LZ4, deltas), headers included;
   * - the final round's rate: uncapped, the fastest round seen (pausing the guest frees a core
   *   for the sender); capped, the cap, after what the pacer's bucket lets out at once (it
   *   refills during the gap);
   * - the fixed part (`switchoverCosts`): the last sync, the digest, two round trips timed with
   *   ECHO and what an idle destination adds, the device state at the final round's rate; plus
   *   what the history says earlier switchovers missed.
   */
  predict(dirtyPages: number, dirtyPagesPerSec: number): DowntimePrediction {
    const { pacer, echo } = this.i;
    const link = this.i.sender.link;
    const minAck = this.i.minAckRttMs();
    const gapMs =
      (link.bandwidthBytesPerSec > 0 ? (this.i.queuedBytes() / link.bandwidthBytesPerSec) * 1000 : 0) +
      (Number.isFinite(minAck) ? minAck : 0);
    const cap = this.i.switchoverBandwidth;
    const switchoverCap = cap === undefined ? pacer.rate : cap > 0 ? cap : Number.POSITIVE_INFINITY;
    const capped = Number.isFinite(switchoverCap);
    const finalRate = capped
      ? cap !== undefined
        ? switchoverCap
        : link.bandwidthBytesPerSec
      : Math.max(link.bandwidthBytesPerSec, link.peakBandwidthBytesPerSec, link.uncontendedBandwidthBytesPerSec);
    // Without ECHO (a version 1 destination), the shorter of two upper bounds: the handshake's
    // and an acknowledgement's (draining what was queued before ROUND_END is in it).
    const appRtt = Number.isFinite(echo.warmMs) ? echo.warmMs : Math.min(this.i.handshakeRttMs(), minAck);
    const uncorrected = predictDowntime({
      dirtyPages: dirtyPages + (dirtyPagesPerSec * gapMs) / 1000,
      bytesPerPage: this.bytesPerPage(),
      bandwidthBytesPerSec: finalRate,
      costs: switchoverCosts({
        syncMs: this.lastSyncCostMs,
        digestMs: this.i.digestCostMs,
        rttMs: Number.isFinite(appRtt) ? appRtt : this.i.connectRttMs,
        idleWakeMs: Number.isFinite(echo.coldMs - echo.warmMs) ? Math.max(0, echo.coldMs - echo.warmMs) : 0,
        deviceStateBytes: this.i.deviceStateBytes,
        // Device state goes in the final round's stream, at its rate.
        bandwidthBytesPerSec: finalRate,
      }),
      burstBytes: capped && cap === undefined ? Math.min(pacer.burst, pacer.available() + (gapMs / 1000) * pacer.rate) : 0,
    });
    const learnedMs = this.i.history?.correctionMs(uncorrected.transferMs) ?? 0;
    return learnedMs === 0 || !uncorrected.inputs.costs
      ? uncorrected
      : predictDowntime({ ...uncorrected.inputs, costs: { ...uncorrected.inputs.costs, learnedMs } });
  }

  /** Wire bytes per page as the last round's codec mix made them; a full page and its entry before any round. */
  bytesPerPage(): number {
    const last = this.i.sender.rounds.at(-1);
    return last && last.pagesSent > 0 ? last.bytesSent / last.pagesSent : this.i.pageSize + PAGE_ENTRY_BYTES;
  }

  /** After the switchover: what the model, uncorrected, says the pages really sent cost, against what they did. */
  recordOutcome(prediction: DowntimePrediction, finalPages: number, measuredMs: number): void {
    const history = this.i.history;
    if (!history) return;
    const inputs = prediction.inputs;
    const uncorrected = predictDowntime({
      ...inputs,
      dirtyPages: finalPages,
      ...(inputs.costs && { costs: { ...inputs.costs, learnedMs: 0 } }),
    });
    history.record(uncorrected, measuredMs);
  }
}
