/** Pre-copy's round loop on the source: rounds while the guest runs, until the policy decides. */
import type { Kernels } from '../accel/kernels.ts';
import { BatchEncoder, DEFAULT_BATCH_PAGES } from '../codec/batch-encoder.ts';
import { DirtyBitmap } from '../dirty/bitmap.ts';
import { ErrorCode, type FerryError, MigrationError, toFerryError, UsageError } from '../errors.ts';
import type { DowntimePrediction } from '../estimate/downtime.ts';
import { LinkMonitor } from '../estimate/link-monitor.ts';
import { defaultPolicy, hybridPolicy, type SwitchoverPolicy } from '../estimate/policy.ts';
import { memoryDigestAsync } from '../memory/digest.ts';
import { ECHO_MIN_VERSION } from '../protocol/constants.ts';
import { MAX_DATA_CHANNELS } from '../protocol/limits.ts';
import { ECHO_SCHEDULE } from '../session/connector.ts';
import { batchPagesFor } from '../session/negotiation.ts';
import type { SourceContext } from '../session/source-context.ts';
import { TcpTransport } from '../transport/tcp.ts';
import { withTimeout } from '../util/timeout.ts';
import { hybridPrecheck } from './hybrid-precheck.ts';
import { RoundSender } from './round-sender.ts';
import { SwitchoverPredictor } from './switchover-predictor.ts';
import { rehearseSwitchover } from '../session/rehearsal.ts';
import { resolveVerification, type Verification } from '../session/verification.ts';

/** Rounds closer together than this wait: a round that finds next to nothing is not worth spinning on. */
const MIN_ROUND_MS = 5;

/** Pre-copy's default bound (`convergeTimeoutMs`): a minute, and 30 s more per GiB of guest (KubeVirt allows 150 s per GiB). */
export function defaultConvergeTimeoutMs(memoryBytes: number): number {
  return 60_000 + 30_000 * (memoryBytes / 2 ** 30);
}

/** Where pre-copy left the migration: what is still dirty, and what comes next. */
export interface PrecopyOutcome {
  /** The round that comes next: the final round, or post-copy's entry (0: none was sent). */
  readonly round: number;
  /** Pages dirtied since they were last sent (every page before round 0). */
  readonly dirty: DirtyBitmap[];
  /** `switchover`: stop and copy; `postcopy`: hand over with pages missing, for `reason`. */
  readonly next: { readonly kind: 'switchover' } | { readonly kind: 'postcopy'; readonly reason: string };
  readonly prediction: DowntimePrediction | undefined;
  /** Undefined for pure post-copy, which sends no round. */
  readonly rounds: PrecopyRounds | undefined;
}

/**
 * The pre-copy rounds of one migration: sets up the encoder, the sender (and data channels)
 * and the prediction's measurements, then sends round after round, each with the pages the
 * guest dirtied during the last, until the policy says switch over, post-copy or abort. A
 * connection that breaks is recovered when `precopyRecoveryMs` allows it.
 */
export class PrecopyRounds {
  readonly encoder: BatchEncoder;
  readonly sender: RoundSender;
  readonly predictor: SwitchoverPredictor;
  /** `verify` as the migration runs it, with the tracker it runs. */
  readonly verification: Verification;
  private readonly ctx: SourceContext;
  private readonly policy: SwitchoverPolicy;
  private readonly maxDowntimeMs: number;
  private readonly recoveryMs: number;
  private readonly echo = { warmMs: Number.NaN, coldMs: Number.NaN };
  /** When the connection first broke since a round was last acknowledged; undefined while rounds go through. */
  private brokenSinceMs: number | undefined;

  private constructor(ctx: SourceContext, kernels: Kernels, digestCostMs: number, verification: Verification) {
    const o = ctx.o;
    this.ctx = ctx;
    this.verification = verification;
    this.recoveryMs = o.precopyRecoveryMs ?? 0;
    // One measure of the link: the sender feeds it, the encoder, the predictor and the policy read it.
    const link = new LinkMonitor();
    this.encoder = new BatchEncoder(o.memory.layout, kernels, {
      compression: o.compression ?? 'off',
      batchPages: batchPagesFor(ctx.terms!.maxFrameBodyBytes, o.memory.pageSize, o.batchPages ?? DEFAULT_BATCH_PAGES),
      encodings: ctx.terms!.encodings,
      ...(o.xbzrleCacheBytes !== undefined && { xbzrleCacheBytes: o.xbzrleCacheBytes }),
      clock: ctx.clock,
      link,
    });
    o.tracker.compareWithSent?.(this.encoder.sentHashes);
    this.sender = new RoundSender({
      memory: o.memory,
      tracker: verification.tracker,
      transport: ctx.transport,
      encoder: this.encoder,
      link,
      acks: ctx.acks,
      pacer: ctx.pacer,
      clock: ctx.clock,
      elapsedMs: () => ctx.clock.nowMs() - ctx.startMs,
      emit: (e) => ctx.emit(e),
      checkAborted: () => ctx.checkAborted(),
      keepUnacknowledged: this.recoveryMs > 0,
    });
    const maxDowntimeMs = o.maxDowntimeMs ?? 300;
    this.maxDowntimeMs = maxDowntimeMs;
    const maxRounds = o.maxRounds ?? 30;
    const convergeTimeoutMs = o.convergeTimeoutMs ?? defaultConvergeTimeoutMs(o.memory.totalPages * o.memory.pageSize);
    this.policy =
      o.policy ??
      (o.strategy === 'hybrid'
        ? hybridPolicy(maxDowntimeMs, maxRounds, convergeTimeoutMs)
        : defaultPolicy(maxDowntimeMs, maxRounds, {
            onWontConverge: o.onWontConverge ?? 'abort',
            convergeTimeoutMs,
            throttle: o.controlPlane.throttle !== undefined,
          }));
    ctx.acks.onAcknowledged(() => {
      this.brokenSinceMs = undefined;
    });
    const transport = ctx.transport;
    this.predictor = new SwitchoverPredictor({
      sender: this.sender,
      pacer: ctx.pacer,
      pageSize: o.memory.pageSize,
      switchoverBandwidth: o.switchoverBandwidth,
      deviceStateBytes: o.deviceStateBytes ?? 0,
      history: o.switchoverHistory,
      digestCostMs,
      echo: this.echo,
      connectRttMs: transport instanceof TcpTransport ? transport.connectRttMs : Number.NaN,
      handshakeRttMs: () => ctx.connector.handshakeRttMs,
      minAckRttMs: () => ctx.acks.shortestRttMs,
      queuedBytes: () => ctx.transport.queuedBytes,
    });
  }

  /**
   * Runs pre-copy from the accepted handshake to the policy's decision (pure post-copy: at once,
   * with every page to send), with the last round acknowledged.
   */
  static async run(ctx: SourceContext, kernels: Kernels): Promise<PrecopyOutcome> {
    const o = ctx.o;
    const memory = o.memory;
    const strategy = o.strategy ?? 'precopy';
    // Measured, not assumed: the digest is a fixed part of every switchover (an upper bound:
    // at switchover it overlaps the final round).
    const verification = resolveVerification(o);
    ctx.tracker = verification.tracker;
    const digestStart = ctx.clock.nowMs();
    if (strategy !== 'postcopy' && verification.mode === 'memory') await memoryDigestAsync(memory, kernels);
    const digestCostMs = ctx.clock.nowMs() - digestStart;
    ctx.phase.to('precopy');
    // While the guest runs: the switchover's code, compiled before it is needed in the pause.
    rehearseSwitchover(memory.layout);
    const dirty = memory.regions.map((r) => new DirtyBitmap(r.pageCount));
    if (strategy === 'postcopy') {
      for (const d of dirty) d.fill();
      return { round: 0, dirty, next: { kind: 'postcopy', reason: 'strategy' }, prediction: undefined, rounds: undefined };
    }
    if (strategy === 'hybrid') {
      const check = await hybridPrecheck(ctx, kernels, o.maxDowntimeMs ?? 300, o.maxRounds ?? 30);
      if (check.postcopy) {
        ctx.decision = { reason: check.postcopy, predictedDowntimeMs: check.bestMs };
        for (const d of dirty) d.fill();
        return { round: 0, dirty, next: { kind: 'postcopy', reason: check.postcopy }, prediction: undefined, rounds: undefined };
      }
    }
    const rounds = new PrecopyRounds(ctx, kernels, digestCostMs, verification);
    await rounds.openChannels();
    await rounds.timeRoundTrips();
    return rounds.loop(dirty);
  }

  /** Opens the data channels (`channels` − 1) and stripes pages over them. */
  private async openChannels(): Promise<void> {
    const { ctx } = this;
    const channels = ctx.o.channels ?? 1;
    if (channels <= 1) return;
    if (!Number.isInteger(channels) || channels > MAX_DATA_CHANNELS) {
      throw new UsageError(ErrorCode.INVALID_ARGUMENT, `channels must be an integer in 1..${MAX_DATA_CHANNELS}`);
    }
    if (this.recoveryMs > 0) {
      throw new UsageError(ErrorCode.INVALID_ARGUMENT, 'precopyRecoveryMs works over one channel only, for now');
    }
    const broken = (channel: TcpTransport, err: FerryError): void => {
      // A data channel that breaks breaks the migration (before COMMIT the guest runs on here).
      if (ctx.dataChannels.includes(channel) && !ctx.phase.is('completed', 'failed', 'outcome-unknown')) ctx.transport.destroy(err);
    };
    for (let i = 1; i < channels; i++) ctx.dataChannels.push(await ctx.connector.openChannel(broken));
    this.sender.setDataChannels(ctx.dataChannels);
  }

  /**
   * Measured, not assumed: the round trip the switchover's two exchanges will each pay (ECHO
   * needs a version 2 destination; a version 1 one gets the fallbacks of the prediction).
   */
  private async timeRoundTrips(): Promise<void> {
    const { ctx } = this;
    if (ctx.version < ECHO_MIN_VERSION) return;
    const link = ctx.link!;
    try {
      Object.assign(this.echo, await ctx.connector.echoRtt(link.transport, link.inbox, ECHO_SCHEDULE));
    } catch (err) {
      // A break here is recovered like one in round 0 (the round's send fails next); the
      // prediction then falls back to the handshake's and acknowledgements' round trips.
      const error = toFerryError(err, ErrorCode.CONNECTION_LOST);
      if (!(this.recoveryMs > 0 && ctx.worthReconnecting(error, link.transport))) throw err;
    }
  }

  /** Round after round until the policy decides; then waits for the last round's acknowledgement. */
  private async loop(dirty: DirtyBitmap[]): Promise<PrecopyOutcome> {
    const { ctx, sender, predictor } = this;
    const o = ctx.o;
    const tracker = this.verification.tracker;
    await tracker.start();
    for (const d of dirty) d.fill();
    let round = 0;
    let dirtyPages = o.memory.totalPages;
    let prediction: DowntimePrediction | undefined;
    const dirtyHistory: number[] = [];
    const roundMsHistory: number[] = [];
    let lastSyncMs = ctx.clock.nowMs();
    let roundStartMs = lastSyncMs;
    let next: PrecopyOutcome['next'];
    for (;;) {
      try {
        await sender.send(dirty, round, dirtyPages, prediction, false);
      } catch (err) {
        await this.recover(err, dirty);
        dirtyPages = dirty.reduce((n, d) => n + d.count(), 0);
        continue; // the same round again, on the new connection
      }
      round++;
      dirtyPages = 0;
      const syncStart = ctx.clock.nowMs();
      for (let r = 0; r < dirty.length; r++) dirtyPages += await tracker.sync(r, dirty[r]!);
      // Pages the second tracker saw and the first missed go in the next round.
      if (this.verification.crossCheck) dirtyPages += await this.verification.crossCheck.check(dirty, false);
      const now = ctx.clock.nowMs();
      predictor.lastSyncCostMs = now - syncStart;
      const dirtyPagesPerSec = (dirtyPages / Math.max(now - lastSyncMs, 0.001)) * 1000;
      sender.noteDirtyRate(dirtyPagesPerSec);
      roundMsHistory.push(now - lastSyncMs);
      lastSyncMs = now;
      dirtyHistory.push(dirtyPages);
      prediction = predictor.predict(dirtyPages, dirtyPagesPerSec);
      const decision = this.policy({
        roundsSent: round,
        elapsedMs: now - ctx.startMs,
        dirtyPages,
        dirtyHistory,
        dirtyPagesPerSec,
        // Smoothed over windows of continuous sending: idle gaps and the first burst left out.
        bandwidthBytesPerSec: sender.link.policyBandwidthBytesPerSec(ctx.pacer.rate),
        bytesPerPage: predictor.bytesPerPage(),
        predictedDowntimeMs: prediction.totalMs,
        throttlePercent: ctx.throttled,
        roundMsHistory,
        fixedDowntimeMs: prediction.fixedMs,
        msPerPage:
          prediction.inputs.bandwidthBytesPerSec > 0 ? (prediction.inputs.bytesPerPage / prediction.inputs.bandwidthBytesPerSec) * 1000 : 0,
      });
      ctx.decision = { reason: decision.action === 'continue' ? '' : decision.reason, predictedDowntimeMs: prediction.totalMs };
      if (decision.action === 'switchover') {
        ctx.emit({
          type: 'switchover',
          round,
          reason: decision.reason,
          remainingPages: dirtyPages,
          predictedDowntimeMs: prediction.totalMs,
          prediction,
        });
        next = { kind: 'switchover' };
        break;
      }
      if (decision.action === 'postcopy') {
        if ((o.strategy ?? 'precopy') === 'precopy') {
          throw new UsageError(ErrorCode.INVALID_ARGUMENT, "the policy asked for post-copy, which needs strategy 'hybrid'");
        }
        next = { kind: 'postcopy', reason: decision.reason };
        break;
      }
      if (decision.action === 'abort') {
        if (decision.wontConverge) {
          throw new MigrationError(
            ErrorCode.WONT_CONVERGE,
            `pre-copy cannot fit maxDowntimeMs ${this.maxDowntimeMs} ms (${decision.reason}); the guest runs on here. ` +
              "Raise maxDowntimeMs, allow post-copy (strategy: 'hybrid'), give the control plane a throttle hook, or set onWontConverge: 'switchover'",
          );
        }
        throw new MigrationError(ErrorCode.ABORTED, `switchover policy aborted the migration: ${decision.reason}`);
      }
      if (decision.action === 'throttle') await ctx.throttle(decision.percent, decision.reason);
      // Another round: let the connection's events in first (a peer that died is noticed here,
      // not after thousands of rounds that never waited for I/O), and do not spin on rounds
      // that find next to nothing while the guest cannot converge (the bound decides).
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, MIN_ROUND_MS - (ctx.clock.nowMs() - roundStartMs))));
      roundStartMs = ctx.clock.nowMs();
    }
    await this.lastRoundAcknowledged(dirty, round, prediction);
    return { round, dirty, next, prediction, rounds: this };
  }

  /**
   * Lets the last round reach the destination while the guest still runs, so the pause does
   * not start with a pipe full of pages sent earlier.
   */
  private async lastRoundAcknowledged(dirty: DirtyBitmap[], round: number, prediction: DowntimePrediction | undefined): Promise<void> {
    const { ctx } = this;
    for (;;) {
      try {
        await withTimeout(
          Promise.race([ctx.acks.of(round - 1).promise, ctx.link!.closed.promise]),
          ctx.o.handshakeTimeoutMs ?? 10_000,
          `acknowledgement of round ${round - 1}`,
        );
        return;
      } catch (err) {
        await this.recover(err, dirty);
        // The last round may be lost: send it again (with what has been found dirty since).
        const pages = dirty.reduce((n, d) => n + d.count(), 0);
        try {
          await this.sender.send(dirty, round - 1, pages, prediction, false);
        } catch (again) {
          await this.recover(again, dirty);
        }
      }
    }
  }

  /**
   * A broken connection during pre-copy: reconnect (same session, authenticated again) and
   * resend what the destination never got plus every page of the rounds it had not
   * acknowledged; the guest runs on meanwhile. Anything else, or no recovery asked for: fail.
   */
  private async recover(err: unknown, dirty: DirtyBitmap[]): Promise<void> {
    const { ctx } = this;
    const error = toFerryError(err, ErrorCode.CONNECTION_LOST);
    const transport = ctx.transport;
    if (this.recoveryMs <= 0 || !ctx.worthReconnecting(error, transport)) throw error;
    transport.destroy(error);
    // The window runs from the first break since a round was last acknowledged: reconnections
    // that succeed but never let a round through (a fault that comes back) end within it too.
    const now = ctx.clock.nowMs();
    this.brokenSinceMs ??= now;
    const leftMs = this.recoveryMs - (now - this.brokenSinceMs);
    if (leftMs <= 0) {
      throw new MigrationError(ErrorCode.TIMEOUT, `precopy not recovered within ${this.recoveryMs} ms: ${error.message}`, { cause: error });
    }
    const back = await ctx.reconnect('precopy', leftMs, error);
    for (let r = 0; r < dirty.length; r++) dirty[r]!.or(back.missing[r]!);
    this.sender.takeUnacknowledged(dirty);
    // What the destination holds of these is unknown: no XBZRLE delta against, no DEDUP reference to, them.
    this.encoder.forgetDestinationCopies(dirty);
    this.sender.setTransport(back.transport);
    ctx.acks.forgetWaiting();
    ctx.recoveries++;
  }
}
