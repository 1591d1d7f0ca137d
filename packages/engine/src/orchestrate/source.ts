import { randomBytes } from 'node:crypto';
import { loadKernels } from '../accel/index.ts';
import type { Kernels } from '../accel/kernels.ts';
import { BatchEncoder, type CompressionMode } from '../codec/batch-encoder.ts';
import { DirtyBitmap } from '../dirty/bitmap.ts';
import type { DirtyTracker } from '../dirty/tracker.ts';
import {
  ErrorCode,
  type FerryError,
  HandshakeError,
  MigrationError,
  PeerError,
  ProtocolError,
  toFerryError,
  UsageError,
} from '../errors.ts';
import type { DowntimePrediction } from '../estimate/downtime.ts';
import type { SwitchoverHistory } from '../estimate/switchover-history.ts';
import { digestOfPageHashes, memoryDigest, memoryDigestAsync } from '../memory/digest.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import { ECHO_MIN_VERSION, Intent, MessageType } from '../protocol/constants.ts';
import { decodeBody, encodeFrame, expectType, type Frame } from '../protocol/frame.ts';
import { MAX_DATA_CHANNELS, MAX_MISSING_PAGES_PER_MESSAGE } from '../protocol/limits.ts';
import * as msg from '../protocol/messages.ts';
import { defaultPolicy, hybridPolicy, type SwitchoverPolicy } from '../estimate/policy.ts';
import { PageServer } from '../postcopy/page-server.ts';
import { RoundSender } from '../precopy/round-sender.ts';
import type { MigrationEvent } from '../session/events.ts';
import type { DowntimeBreakdown, MigrationReport } from '../session/report.ts';
import { SOURCE_TRANSITIONS, type SourcePhase, StateMachine } from '../session/state-machine.ts';
import type { Inbox } from '../transport/inbox.ts';
import { Pacer } from '../transport/pacer.ts';
import { TcpTransport } from '../transport/tcp.ts';
import type { TlsOptions } from '../transport/tls-options.ts';
import type { FrameTransport } from '../transport/transport.ts';
import { toHex } from '../util/bytes.ts';
import { type Clock, systemClock } from '../util/clock.ts';
import { type Deferred, deferred } from '../util/deferred.ts';
import { withTimeout } from '../util/timeout.ts';
import type { SourceControlPlane } from './control-plane.ts';
import { ECHO_SCHEDULE, type RecoveredLink, SourceConnector } from './source-connector.ts';
import { SwitchoverPredictor } from './switchover-predictor.ts';

export interface MigrateOptions {
  /** Where the destination listens. */
  readonly host: string;
  readonly port: number;
  readonly memory: GuestMemory;
  /** Finds the pages the running guest writes; must cover every region of `memory`. */
  readonly tracker: DirtyTracker;
  readonly controlPlane: SourceControlPlane;
  /** The control plane's name for the guest, shown to the destination. */
  readonly guestId?: string;
  /**
   * - `precopy` (default): iterate rounds while the guest runs, then stop and copy the rest.
   * - `postcopy`: pause at once, resume the guest on the destination, and send memory after,
   *   on demand and in the background. Downtime does not grow with memory size; the guest runs
   *   slower until its pages have arrived, and a broken connection then stops it (both sides
   *   keep their state).
   * - `hybrid`: pre-copy first; switch to post-copy when the policy says so (by default when
   *   pre-copy stalls or runs out of rounds, see `hybridPolicy`).
   * The destination needs a guest that waits for missing pages (`PostcopyPager`).
   */
  readonly strategy?: 'precopy' | 'postcopy' | 'hybrid';
  /** Post-copy: push the pages right after each requested one first (guests touch memory in runs). Default true. */
  readonly prepaging?: boolean;
  /** Switch over once the predicted downtime is at most this. Default 300 ms (QEMU's default). */
  readonly maxDowntimeMs?: number;
  /** Switch over after this many rounds whatever the prediction says. Default 30. */
  readonly maxRounds?: number;
  /**
   * Decides after every round: continue, switch over, throttle the guest, or abort. Default:
   * `defaultPolicy(maxDowntimeMs, maxRounds)`; compose others from `policies`.
   */
  readonly policy?: SwitchoverPolicy;
  /**
   * Cap on the rate page data is sent, bytes per second (like QEMU's max-bandwidth); 0 or
   * absent: unlimited. Pass a `Pacer` instead to change the cap while the migration runs.
   */
  readonly maxBandwidth?: number | Pacer;
  /**
   * The device state's expected size in bytes, for the downtime prediction (it is sent while
   * the guest is paused; `saveDeviceState` runs only then). Default 0.
   */
  readonly deviceStateBytes?: number;
  /**
   * Earlier switchovers between these hosts: the prediction adds what they showed it to miss
   * (a robust line through their misses, see `SwitchoverHistory`), and this migration is recorded in it when it completes. Keep one per pair
   * of hosts and control plane. Default: none, and the fixed part is what can be timed here.
   */
  readonly switchoverHistory?: SwitchoverHistory;
  /**
   * A separate cap for the final round, sent while the guest is paused (bytes per second; 0:
   * uncapped). Like QEMU's avail-switchover-bandwidth, it lets pre-copy stay polite to a shared
   * network while the stop-and-copy takes what it needs; the downtime prediction uses it.
   * Default: the same cap as pre-copy.
   */
  readonly switchoverBandwidth?: number;
  /**
   * Page encodings: `off` (default; RAW and ZERO), `lz4`, `xbzrle`, or `adaptive` (zero, dedup,
   * XBZRLE deltas, and LZ4 where the measured cost model says it delivers sooner).
   */
  readonly compression?: CompressionMode;
  /** The source's XBZRLE cache of page contents as sent. Default 64 MiB. */
  readonly xbzrleCacheBytes?: number;
  /**
   * TCP connections for page data, the control connection included (like QEMU's multifd).
   * Default 1. Pages are striped over them by address so that copies of a page stay in order.
   */
  readonly channels?: number;
  /** Pages per PAGES frame. Default 256. */
  readonly batchPages?: number;
  /**
   * How the source computes the memory digest at switchover (docs/protocol.md §4):
   * - `memory` (default): hashes all of its guest memory while paused. Catches a write the
   *   dirty tracker missed, at the cost of reading all memory during downtime.
   * - `sent`: from the hash of every page as it was sent, kept during pre-copy. Costs nothing
   *   during downtime and still catches corruption on the wire or on the destination, but
   *   trusts the dirty tracker. For large guests, or trackers verified by other means.
   */
  readonly verify?: 'memory' | 'sent';
  /** Hashing kernels; default: the native addon if it loads, else the TypeScript fallback. */
  readonly kernels?: Kernels;
  /**
   * A pre-shared key: the source then sends only to a destination that proves it knows the
   * key, and proves it knows it too (HMAC challenge-response, nonces from both sides, no key
   * on the wire). Both sides must be given the same key.
   */
  readonly psk?: Uint8Array;
  /** Mutual TLS: encrypt and authenticate the whole stream (both sides need certificates from `ca`). */
  readonly tls?: TlsOptions;
  /** Cancels the migration; the guest keeps running on the source. */
  readonly signal?: AbortSignal;
  readonly onEvent?: (event: MigrationEvent) => void;
  readonly connectTimeoutMs?: number;
  readonly handshakeTimeoutMs?: number;
  /** The migration fails when the connection moves no byte either way for this long. Default 30 s. */
  readonly idleTimeoutMs?: number;
  /**
   * Pre-copy: how long to keep reconnecting when the connection breaks while the guest still
   * runs here; 0 (default) fails the migration at once (the guest runs on). On reconnection the
   * destination says which pages it never received, and those plus the pages of the rounds it
   * had not acknowledged go again, no more. The destination must allow it (`recoveryTimeoutMs`).
   */
  readonly precopyRecoveryMs?: number;
  /**
   * Post-copy only: how long to keep reconnecting when the connection breaks while the guest
   * runs on the destination without all its pages. Default 30 s; then `FERRY_POSTCOPY_INTERRUPTED`.
   */
  readonly recoveryTimeoutMs?: number;
  /** How long the destination may take from COMPLETE to RESUMED. Default 60 s. */
  readonly handoverTimeoutMs?: number;
  readonly clock?: Clock;
}

/** Device state travels in chunks no larger than this. */
const DEVICE_STATE_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * Live-migrates `memory` to a Ferry destination by pre-copy: round 0 sends every non-zero page
 * while the guest runs, each later round the pages it dirtied meanwhile, until the remaining
 * pages fit the downtime limit; then pause, final round, device state, digest, and a two-step
 * handover (READY, COMMIT, RESUMED).
 *
 * On any failure before COMMIT the guest is resumed here and the promise rejects with a
 * FerryError. After COMMIT the destination may be running the guest, so a failure there
 * rejects with FERRY_OUTCOME_UNKNOWN and leaves the guest paused for the control plane.
 */
export function migrate(options: MigrateOptions): Promise<MigrationReport> {
  return new SourceMigration(options).run();
}

class SourceMigration {
  private readonly o: MigrateOptions;
  private readonly clock: Clock;
  private readonly phase: StateMachine<SourcePhase>;
  private readonly sessionId = randomBytes(16);
  private readonly connector: SourceConnector;
  private transport: FrameTransport | undefined;
  private startMs = 0;
  /** Sends the rounds; also what the acknowledgements are checked against. */
  private sender: RoundSender | undefined;
  private encoder: BatchEncoder | undefined;
  /** Connections lost and recovered during pre-copy. */
  private recoveries = 0;
  /** Page and control bytes written in each whole second of the migration. */
  private readonly bytesPerSecond: number[] = [];
  private bytesOnEarlierConnections = 0;
  /** Extra data channels (`channels` − 1), open during pre-copy and the final round. */
  private dataChannels: TcpTransport[] = [];
  /** Serves post-copy page requests, once the guest runs on the destination. */
  private pageServer: PageServer | undefined;
  /** Settled when the destination acknowledges a round. */
  private readonly roundAcks = new Map<number, Deferred<void>>();
  /** Shortest ROUND_END to ROUND_ACK time seen: the handover's round trip, measured. */
  private minAckRttMs = Number.POSITIVE_INFINITY;
  private readonly pacer: Pacer;
  private paused = false;
  /** The throttle the control plane last applied, percent. */
  private throttlePercent = 0;

  constructor(options: MigrateOptions) {
    this.o = options;
    this.clock = options.clock ?? systemClock;
    this.pacer = options.maxBandwidth instanceof Pacer ? options.maxBandwidth : new Pacer(options.maxBandwidth ?? 0, { clock: this.clock });
    this.phase = new StateMachine<SourcePhase>('connecting', SOURCE_TRANSITIONS, (from, to) => this.emit({ type: 'phase', from, to }));
    this.connector = new SourceConnector({
      options,
      sessionId: this.sessionId,
      clock: this.clock,
      route: (frame) => this.route(frame),
      emit: (event) => this.emit(event),
      checkAborted: () => this.checkAborted(),
    });
  }

  async run(): Promise<MigrationReport> {
    this.startMs = this.clock.nowMs();
    // Bytes written per second of the migration, for the report (and its chart).
    let lastBytes = 0;
    const sampler = setInterval(() => {
      const bytes = this.transportBytes();
      this.bytesPerSecond.push(bytes - lastBytes);
      lastBytes = bytes;
    }, 1000);
    sampler.unref();
    try {
      return await this.runInner();
    } finally {
      clearInterval(sampler);
    }
  }

  /** Bytes written on every connection of this migration so far. */
  private transportBytes(): number {
    let n = this.bytesOnEarlierConnections + (this.transport?.bytesWritten ?? 0);
    for (const c of this.dataChannels) n += c.bytesWritten;
    return n;
  }

  /** Pauses the guest through the control plane: the start of downtime, and what it cost. */
  private async pauseGuest(): Promise<{ bytesBeforePause: number; pauseStart: number; pausedAt: number }> {
    const bytesBeforePause = this.transportBytes();
    const pauseStart = this.clock.nowMs();
    this.phase.to('paused');
    this.paused = true;
    await callHook('pause', () => this.o.controlPlane.pause());
    return { bytesBeforePause, pauseStart, pausedAt: this.clock.nowMs() };
  }

  /**
   * Only a broken connection is worth a reconnect: not what the destination refused or found
   * wrong (that stays wrong), nor a cancellation.
   */
  private worthReconnecting(error: FerryError, transport: FrameTransport): boolean {
    if (error instanceof PeerError || this.o.signal?.aborted) return false;
    return transport.closed || error.code === ErrorCode.CONNECTION_LOST || error.code === ErrorCode.TIMEOUT;
  }

  /** Reconnects through the connector and makes the new connection the migration's. */
  private async reconnect(phase: 'precopy' | 'postcopy', timeoutMs: number, cause: FerryError): Promise<RecoveredLink> {
    const back = await this.connector.reconnect(phase, timeoutMs, cause);
    this.bytesOnEarlierConnections += this.transport?.bytesWritten ?? 0;
    this.transport = back.transport;
    return back;
  }

  /** Ends the data channels, keeping their byte counts for the report. */
  private async closeChannels(): Promise<void> {
    const channels = this.dataChannels;
    this.dataChannels = [];
    for (const c of channels) this.bytesOnEarlierConnections += c.bytesWritten;
    this.sender?.setDataChannels([]);
    await Promise.all(channels.map((c) => c.end().catch(() => {})));
  }

  private async runInner(): Promise<MigrationReport> {
    const o = this.o;
    try {
      if (o.tracker === undefined || o.memory === undefined) {
        throw new UsageError(ErrorCode.INVALID_ARGUMENT, 'migrate() needs memory and a tracker');
      }
      this.checkAborted();
      const kernels = o.kernels ?? (await loadKernels());
      const transport = await this.connector.connect();
      this.transport = transport;
      const onAbort = (): void =>
        this.transport?.destroy(new MigrationError(ErrorCode.ABORTED, 'migration cancelled', { cause: o.signal?.reason }));
      o.signal?.addEventListener('abort', onAbort, { once: true });
      try {
        return await this.migrateOver(transport, kernels);
      } finally {
        o.signal?.removeEventListener('abort', onAbort);
      }
    } catch (err) {
      throw await this.fail(toFerryError(err, ErrorCode.CONNECTION_LOST));
    }
  }

  private async migrateOver(firstTransport: TcpTransport, kernels: Kernels): Promise<MigrationReport> {
    const o = this.o;
    const memory = o.memory;
    // The connection may be replaced during pre-copy (precopyRecoveryMs): these follow it.
    let { transport, inbox, closed } = this.connector.attach(firstTransport);

    this.phase.to('handshake');
    const version = await this.connector.handshake(transport, inbox, Intent.MIGRATE);

    const verify = o.verify ?? 'memory';
    // Measured, not assumed: the digest is a fixed part of every switchover (an upper bound:
    // at switchover it overlaps the final round).
    const digestStart = this.clock.nowMs();
    if (verify === 'memory') await memoryDigestAsync(memory, kernels);
    const digestCostMs = this.clock.nowMs() - digestStart;

    this.phase.to('precopy');
    const encoder = new BatchEncoder(memory.layout, kernels, {
      compression: o.compression ?? 'off',
      ...(o.batchPages !== undefined && { batchPages: o.batchPages }),
      ...(o.xbzrleCacheBytes !== undefined && { xbzrleCacheBytes: o.xbzrleCacheBytes }),
      clock: this.clock,
    });

    const dirty = memory.regions.map((r) => new DirtyBitmap(r.pageCount));
    const sender = new RoundSender({
      memory,
      tracker: o.tracker,
      transport,
      encoder,
      pacer: this.pacer,
      clock: this.clock,
      elapsedMs: () => this.clock.nowMs() - this.startMs,
      emit: (e) => this.emit(e),
      checkAborted: () => this.checkAborted(),
      keepUnacknowledged: (o.precopyRecoveryMs ?? 0) > 0,
    });
    this.sender = sender;
    this.encoder = encoder;
    const channels = o.channels ?? 1;
    if (channels > 1) {
      if (!Number.isInteger(channels) || channels > MAX_DATA_CHANNELS) {
        throw new UsageError(ErrorCode.INVALID_ARGUMENT, `channels must be an integer in 1..${MAX_DATA_CHANNELS}`);
      }
      if ((o.precopyRecoveryMs ?? 0) > 0) {
        throw new UsageError(ErrorCode.INVALID_ARGUMENT, 'precopyRecoveryMs works over one channel only, for now');
      }
      const broken = (channel: TcpTransport, err: FerryError): void => {
        // A data channel that breaks breaks the migration (before COMMIT the guest runs on here).
        if (this.dataChannels.includes(channel) && !this.phase.is('completed', 'failed', 'outcome-unknown')) this.transport?.destroy(err);
      };
      for (let i = 1; i < channels; i++) this.dataChannels.push(await this.connector.openChannel(broken));
      sender.setDataChannels(this.dataChannels);
    }
    const connectRttMs = transport instanceof TcpTransport ? transport.connectRttMs : Number.NaN;
    const maxDowntimeMs = o.maxDowntimeMs ?? 300;
    const maxRounds = o.maxRounds ?? 30;
    const strategy = o.strategy ?? 'precopy';
    // Measured, not assumed: the round trip the switchover's two exchanges will each pay
    // (ECHO needs a version 2 destination; a version 1 one gets the fallbacks below).
    const echo = { warmMs: Number.NaN, coldMs: Number.NaN };
    if (strategy !== 'postcopy' && version >= ECHO_MIN_VERSION) {
      try {
        Object.assign(echo, await this.connector.echoRtt(transport, inbox, ECHO_SCHEDULE));
      } catch (err) {
        // A break here is recovered like one in round 0 (the round's send fails next); the
        // prediction then falls back to the handshake's and acknowledgements' round trips.
        const error = toFerryError(err, ErrorCode.CONNECTION_LOST);
        if (!((o.precopyRecoveryMs ?? 0) > 0 && this.worthReconnecting(error, transport))) throw err;
      }
    }
    const policy = o.policy ?? (strategy === 'hybrid' ? hybridPolicy(maxDowntimeMs, maxRounds) : defaultPolicy(maxDowntimeMs, maxRounds));
    const predictor = new SwitchoverPredictor({
      sender,
      pacer: this.pacer,
      pageSize: memory.pageSize,
      switchoverBandwidth: o.switchoverBandwidth,
      deviceStateBytes: o.deviceStateBytes ?? 0,
      history: o.switchoverHistory,
      digestCostMs,
      echo,
      connectRttMs,
      handshakeRttMs: () => this.connector.handshakeRttMs,
      minAckRttMs: () => this.minAckRttMs,
      queuedBytes: () => transport.queuedBytes,
    });

    if (strategy === 'postcopy') {
      for (const d of dirty) d.fill();
      return this.postcopy(transport, inbox, closed, kernels, dirty, 0, 'strategy');
    }
    await o.tracker.start();
    for (const d of dirty) d.fill();
    let round = 0;
    let dirtyPages = memory.totalPages;
    let predicted: number | null = null;
    let prediction: DowntimePrediction | undefined;
    const dirtyHistory: number[] = [];
    let lastSyncMs = this.clock.nowMs();
    let postcopyReason: string | undefined;
    const precopyRecoveryMs = o.precopyRecoveryMs ?? 0;
    // A broken connection during pre-copy: reconnect (same session, authenticated again) and
    // resend what the destination never got plus every page of the rounds it had not
    // acknowledged; the guest runs on meanwhile. Anything else, or no recovery asked for: fail.
    const recoverPrecopy = async (err: unknown): Promise<void> => {
      const error = toFerryError(err, ErrorCode.CONNECTION_LOST);
      if (precopyRecoveryMs <= 0 || !this.worthReconnecting(error, transport)) throw error;
      transport.destroy(error);
      const back = await this.reconnect('precopy', precopyRecoveryMs, error);
      for (let r = 0; r < dirty.length; r++) dirty[r]!.or(back.missing[r]!);
      sender.takeUnacknowledged(dirty);
      sender.setTransport(back.transport);
      ({ transport, inbox, closed } = back);
      this.roundAcks.clear();
      this.recoveries++;
    };
    for (;;) {
      try {
        await sender.send(dirty, round, dirtyPages, prediction, false);
      } catch (err) {
        await recoverPrecopy(err);
        dirtyPages = dirty.reduce((n, d) => n + d.count(), 0);
        continue; // the same round again, on the new connection
      }
      round++;
      dirtyPages = 0;
      const syncStart = this.clock.nowMs();
      for (let r = 0; r < dirty.length; r++) dirtyPages += await o.tracker.sync(r, dirty[r]!);
      const now = this.clock.nowMs();
      predictor.lastSyncCostMs = now - syncStart;
      const dirtyPagesPerSec = (dirtyPages / Math.max(now - lastSyncMs, 0.001)) * 1000;
      sender.dirtyPagesPerSec = dirtyPagesPerSec;
      lastSyncMs = now;
      dirtyHistory.push(dirtyPages);
      prediction = predictor.predict(dirtyPages, dirtyPagesPerSec);
      predicted = prediction.totalMs;
      const decision = policy({
        roundsSent: round,
        elapsedMs: now - this.startMs,
        dirtyPages,
        dirtyHistory,
        dirtyPagesPerSec,
        // Smoothed over windows of continuous sending: idle gaps and the first burst left out.
        bandwidthBytesPerSec:
          sender.linkRate.windows > 0 ? Math.min(this.pacer.rate, sender.linkRate.smoothedBytesPerSec) : sender.bandwidthBytesPerSec,
        bytesPerPage: predictor.bytesPerPage(),
        predictedDowntimeMs: predicted,
        throttlePercent: this.throttlePercent,
      });
      if (decision.action === 'switchover') {
        this.emit({
          type: 'switchover',
          round,
          reason: decision.reason,
          remainingPages: dirtyPages,
          predictedDowntimeMs: predicted,
          ...(prediction && { prediction }),
        });
        break;
      }
      if (decision.action === 'postcopy') {
        if (strategy === 'precopy') {
          throw new UsageError(ErrorCode.INVALID_ARGUMENT, "the policy asked for post-copy, which needs strategy 'hybrid'");
        }
        postcopyReason = decision.reason;
        break;
      }
      if (decision.action === 'abort') {
        throw new MigrationError(ErrorCode.ABORTED, `switchover policy aborted the migration: ${decision.reason}`);
      }
      if (decision.action === 'throttle') await this.throttle(decision.percent, decision.reason);
    }

    // Let the last round reach the destination while the guest still runs, so the pause does
    // not start with a pipe full of pages sent earlier.
    for (;;) {
      try {
        await withTimeout(
          Promise.race([this.ackOf(round - 1).promise, closed.promise]),
          o.handshakeTimeoutMs ?? 10_000,
          `acknowledgement of round ${round - 1}`,
        );
        break;
      } catch (err) {
        await recoverPrecopy(err);
        // The last round may be lost: send it again (with what has been found dirty since).
        const pages = dirty.reduce((n, d) => n + d.count(), 0);
        try {
          await sender.send(dirty, round - 1, pages, prediction, false);
        } catch (again) {
          await recoverPrecopy(again);
        }
      }
    }

    if (postcopyReason !== undefined) {
      return this.postcopy(transport, inbox, closed, kernels, dirty, round, postcopyReason);
    }

    // Stop and copy. Everything from here to RESUMED is downtime.
    const { bytesBeforePause, pauseStart, pausedAt } = await this.pauseGuest();
    // Memory is frozen from here on: hash it off-thread while the final round goes out (with
    // only the TypeScript kernels it runs where it is awaited, so its time lands in digestMs).
    const digestPromise = verify === 'memory' && kernels.hashPagesAsync ? memoryDigestAsync(memory, kernels) : undefined;
    digestPromise?.catch(() => {});
    for (let r = 0; r < dirty.length; r++) await o.tracker.sync(r, dirty[r]!);
    const finalPages = dirty.reduce((n, d) => n + d.count(), 0);
    await transport.send(encodeFrame(MessageType.SWITCHOVER, msg.switchover, { round }));
    if (o.switchoverBandwidth !== undefined) this.pacer.setRate(o.switchoverBandwidth);
    await sender.send(dirty, round, finalPages, prediction, true);
    const finalRoundDone = this.clock.nowMs();

    const state = await callHook('saveDeviceState', () => o.controlPlane.saveDeviceState());
    await sendDeviceState(transport, state);
    const deviceStateDone = this.clock.nowMs();

    const digest =
      verify === 'sent'
        ? digestOfPageHashes(encoder.sentHashes, kernels)
        : digestPromise
          ? await digestPromise
          : memoryDigest(memory, kernels);
    const digestDone = this.clock.nowMs();
    await transport.send(encodeFrame(MessageType.COMPLETE, msg.complete, { digest, totalPages: memory.totalPages, finalRound: round }));

    const handoverTimeoutMs = o.handoverTimeoutMs ?? 60_000;
    const readyFrame = await inbox.next(handoverTimeoutMs, 'waiting for READY');
    const readyMsg = decodeBody(msg.ready, expectType(readyFrame, MessageType.READY));
    if (readyMsg.digest !== digest) {
      throw new ProtocolError(
        ErrorCode.DIGEST_MISMATCH,
        `destination READY carries digest ${toHex(readyMsg.digest)}, ours is ${toHex(digest)}`,
      );
    }
    transport.write(encodeFrame(MessageType.COMMIT, msg.empty, {}));

    this.phase.to('committed');
    const resumedFrame = await inbox.next(handoverTimeoutMs, 'waiting for RESUMED');
    const resumed = decodeBody(msg.resumed, expectType(resumedFrame, MessageType.RESUMED));
    const resumedAt = this.clock.nowMs();
    this.phase.to('completed');

    o.tracker.stop();
    await this.closeChannels();
    await transport.end();
    const downtime: DowntimeBreakdown = {
      pauseMs: pausedAt - pauseStart,
      finalRoundMs: finalRoundDone - pausedAt,
      deviceStateMs: deviceStateDone - finalRoundDone,
      digestMs: digestDone - deviceStateDone,
      handoverMs: resumedAt - digestDone,
    };
    if (prediction) predictor.recordOutcome(prediction, finalPages, resumedAt - pauseStart);
    const report: MigrationReport = {
      sessionId: Buffer.from(this.sessionId).toString('hex'),
      outcome: 'completed',
      totalMs: resumedAt - this.startMs,
      downtimeMs: resumedAt - pauseStart,
      downtime,
      destination: { verifyMs: resumed.verifyMicros / 1000, resumeMs: resumed.resumeMicros / 1000 },
      bytesSent: this.transportBytes(),
      bytesSentDuringDowntime: this.transportBytes() - bytesBeforePause,
      pagesSent: sender.pagesSent,
      rounds: sender.rounds,
      finalRoundPages: finalPages,
      deviceStateBytes: state.byteLength,
      digest: toHex(digest),
      digestMatched: true,
      verify,
      codecs: encoder.stats(),
      kernels: kernels.name,
      memoryBytes: memory.totalBytes,
      strategy: o.strategy ?? 'precopy',
      recoveries: this.recoveries,
      bytesPerSecond: [...this.bytesPerSecond],
    };
    this.emit({ type: 'completed', report });
    await callHook('release', () => o.controlPlane.release?.());
    return report;
  }

  /**
   * Hands the guest over with pages still missing: pause, send the map of pages the
   * destination lacks and the device state, commit, and once the guest runs there serve its
   * page requests first and push the rest behind them. Ends when the destination confirms
   * every page and the digest of the memory as paused here.
   */
  private async postcopy(
    transport: FrameTransport,
    inbox: Inbox,
    closed: Deferred<never>,
    kernels: Kernels,
    missing: DirtyBitmap[],
    round: number,
    reason: string,
  ): Promise<MigrationReport> {
    const o = this.o;
    const memory = o.memory;
    if (round > 0) {
      await withTimeout(
        Promise.race([this.ackOf(round - 1).promise, closed.promise]),
        o.handshakeTimeoutMs ?? 10_000,
        `acknowledgement of round ${round - 1}`,
      );
    }
    // Post-copy pages travel on the control connection only: the data channels are done.
    await this.closeChannels();
    // Only self-contained encodings: the destination's copy of a page may have changed since
    // (the guest runs there), so no XBZRLE delta or DEDUP reference can apply to it. Built
    // before the pause: its tables grow with the guest, the downtime must not.
    const postcopyEncoder = new BatchEncoder(memory.layout, kernels, {
      compression: o.compression === 'lz4' ? 'lz4' : 'off',
      batchPages: 32,
      clock: this.clock,
    });
    const { bytesBeforePause, pauseStart, pausedAt } = await this.pauseGuest();
    if (round > 0) for (let r = 0; r < missing.length; r++) await o.tracker.sync(r, missing[r]!);
    const missingPages = missing.reduce((n, d) => n + d.count(), 0);
    this.emit({ type: 'switchover', round, reason: `postcopy: ${reason}`, remainingPages: missingPages, predictedDowntimeMs: 0 });
    await transport.send(encodeFrame(MessageType.POSTCOPY_ENTER, msg.postcopyEnter, { round }));
    for (let r = 0; r < missing.length; r++) await sendMissingMap(transport, r, missing[r]!);
    const mapDone = this.clock.nowMs();
    const state = await callHook('saveDeviceState', () => o.controlPlane.saveDeviceState());
    await sendDeviceState(transport, state);
    const deviceStateDone = this.clock.nowMs();

    const handoverTimeoutMs = o.handoverTimeoutMs ?? 60_000;
    const readyFrame = await inbox.next(handoverTimeoutMs, 'waiting for READY');
    decodeBody(msg.ready, expectType(readyFrame, MessageType.READY));
    // Pages go only after COMMIT: before it the source may still resume the guest here.
    const postcopyPages = missing.map((b) => new DirtyBitmap(b.bitCount, b.words.slice()));
    const server = new PageServer({
      memory,
      transport,
      encoder: postcopyEncoder,
      round,
      missing,
      prepaging: o.prepaging ?? true,
      pacer: this.pacer,
      clock: this.clock,
    });
    this.pageServer = server;
    transport.write(encodeFrame(MessageType.COMMIT, msg.empty, {}));

    this.phase.to('committed');
    // Memory is frozen for good. Pure post-copy sends every page from it, so the digest of the
    // pages as sent is exactly that of memory and costs no pass; after pre-copy rounds it is
    // taken from memory (or from the pages as sent with `verify: 'sent'`), once everything is
    // queued, so that the pass does not slow the answers to page requests.
    let digestPromise: Promise<bigint> | undefined;
    const digestOnce = (): Promise<bigint> => {
      digestPromise ??=
        round === 0 || o.verify === 'sent'
          ? Promise.resolve(
              digestOfPageHashes(
                round === 0
                  ? postcopyEncoder.sentHashes
                  : mergeSentHashes(this.encoder?.sentHashes, postcopyEncoder.sentHashes, postcopyPages),
                kernels,
              ),
            )
          : memoryDigestAsync(memory, kernels);
      return digestPromise;
    };
    let resumed: msg.Resumed = { resumeMicros: 0, verifyMicros: 0 };
    // The map of missing pages and the device state; page requests may start before RESUMED.
    let bytesDuringDowntime = 0;
    let resumedAt: number | undefined;
    let recoveries = 0;
    let link = { transport, inbox, closed };
    for (;;) {
      try {
        if (resumedAt === undefined) {
          const resumedFrame = await link.inbox.next(handoverTimeoutMs, 'waiting for RESUMED');
          resumed = decodeBody(msg.resumed, expectType(resumedFrame, MessageType.RESUMED));
          resumedAt = this.clock.nowMs();
          bytesDuringDowntime = this.transportBytes() - bytesBeforePause;
          this.phase.to('postcopy');
        }
        // The background push starts once the guest runs: before, it would only compete with
        // the handover for the cores (page requests are answered from COMMIT on).
        const pushing = server.run();
        pushing.catch(() => {});
        await Promise.race([pushing, link.closed.promise]);
        const digest = await digestOnce();
        await link.transport.send(
          encodeFrame(MessageType.COMPLETE, msg.complete, { digest, totalPages: memory.totalPages, finalRound: round }),
        );
        const doneFrame = await link.inbox.next(o.idleTimeoutMs ?? 30_000, 'waiting for POSTCOPY_DONE');
        const done = decodeBody(msg.postcopyDone, expectType(doneFrame, MessageType.POSTCOPY_DONE));
        if (done.digest !== digest) {
          throw new ProtocolError(
            ErrorCode.DIGEST_MISMATCH,
            `destination POSTCOPY_DONE carries digest ${toHex(done.digest)}, ours is ${toHex(digest)}`,
          );
        }
        break;
      } catch (err) {
        const error = toFerryError(err, ErrorCode.CONNECTION_LOST);
        if (!this.worthReconnecting(error, link.transport)) throw error;
        link.transport.destroy(error);
        const back = await this.reconnect('postcopy', o.recoveryTimeoutMs ?? 30_000, error);
        server.resume(back.transport, back.missing);
        link = back;
        recoveries++;
        if (resumedAt === undefined) {
          // RESUMED was lost with the connection; the destination answered RECOVER, so it runs the guest.
          resumedAt = this.clock.nowMs();
          this.phase.to('postcopy');
        }
      }
    }
    const digest = await digestOnce();
    transport = link.transport;
    const doneAt = this.clock.nowMs();
    this.phase.to('completed');
    if (round > 0) o.tracker.stop();
    await transport.end();
    const stats = server.stats();
    const report: MigrationReport = {
      sessionId: Buffer.from(this.sessionId).toString('hex'),
      outcome: 'completed',
      totalMs: doneAt - this.startMs,
      downtimeMs: resumedAt - pauseStart,
      downtime: {
        pauseMs: pausedAt - pauseStart,
        finalRoundMs: mapDone - pausedAt,
        deviceStateMs: deviceStateDone - mapDone,
        digestMs: 0,
        handoverMs: resumedAt - deviceStateDone,
      },
      destination: { verifyMs: resumed.verifyMicros / 1000, resumeMs: resumed.resumeMicros / 1000 },
      bytesSent: this.transportBytes(),
      bytesSentDuringDowntime: bytesDuringDowntime,
      pagesSent: (this.sender?.pagesSent ?? 0) + stats.requestedPages + stats.pushedPages,
      rounds: this.sender?.rounds ?? [],
      finalRoundPages: 0,
      deviceStateBytes: state.byteLength,
      digest: toHex(digest),
      digestMatched: true,
      verify: round === 0 || o.verify === 'sent' ? 'sent' : 'memory',
      // Pre-copy rounds' encodings; pure post-copy has only the post-copy encoder's.
      codecs: round > 0 && this.encoder ? this.encoder.stats() : postcopyEncoder.stats(),
      kernels: kernels.name,
      memoryBytes: memory.totalBytes,
      strategy: o.strategy ?? 'precopy',
      recoveries: this.recoveries,
      bytesPerSecond: [...this.bytesPerSecond],
      postcopy: { reason, missingPages, ...stats, durationMs: doneAt - resumedAt, recoveries },
    };
    this.emit({ type: 'completed', report });
    await callHook('release', () => o.controlPlane.release?.());
    return report;
  }

  /** Frames handled on arrival: acknowledgements and failure reports. */
  private route(frame: Frame): boolean {
    if (frame.type === MessageType.ROUND_ACK) {
      const ack = decodeBody(msg.roundAck, frame.body);
      const sent = this.sender?.roundPages.get(ack.round);
      if (sent !== ack.pages) {
        this.transport?.destroy(
          new ProtocolError(
            ErrorCode.UNEXPECTED_MESSAGE,
            `destination acknowledged ${ack.pages} pages for round ${ack.round}, we sent ${sent ?? 'none'}`,
          ),
        );
      } else {
        const sentAt = this.sender?.roundEndSentAt.get(ack.round);
        if (sentAt !== undefined) this.minAckRttMs = Math.min(this.minAckRttMs, this.clock.nowMs() - sentAt);
        this.sender?.acknowledged(ack.round);
        this.ackOf(ack.round).resolve();
      }
      return true;
    }
    if (frame.type === MessageType.PAGE_REQUEST) {
      const req = decodeBody(msg.pageRequest, frame.body);
      const region = this.o.memory.regions[req.region];
      const server = this.pageServer;
      if (!server || !this.phase.is('committed', 'postcopy') || !region || req.page + req.count > region.pageCount) {
        this.transport?.destroy(
          new ProtocolError(
            ErrorCode.UNEXPECTED_MESSAGE,
            `PAGE_REQUEST for region ${req.region} page ${req.page} (+${req.count}) is not valid now`,
          ),
        );
      } else {
        server.request(req.region, req.page, req.count);
      }
      return true;
    }
    if (frame.type === MessageType.FAILED || frame.type === MessageType.HELLO_REJECT) {
      const report = decodeBody(msg.errorReport, frame.body);
      this.transport?.destroy(
        frame.type === MessageType.HELLO_REJECT
          ? new HandshakeError(handshakeCode(report.code), `destination refused: ${report.message}`)
          : new PeerError(report.code, report.message),
      );
      return true;
    }
    return false;
  }

  /** Asks the control plane to slow the guest (auto-converge); without a `throttle` hook it is a no-op. */
  private async throttle(percent: number, reason: string): Promise<void> {
    const hook = this.o.controlPlane.throttle;
    if (!hook || percent === this.throttlePercent) return;
    await callHook('throttle', () => hook.call(this.o.controlPlane, percent));
    this.throttlePercent = percent;
    this.emit({ type: 'throttle', percent, reason });
  }

  private ackOf(round: number): Deferred<void> {
    let d = this.roundAcks.get(round);
    if (!d) {
      d = deferred<void>();
      this.roundAcks.set(round, d);
    }
    return d;
  }

  private async fail(error: FerryError): Promise<FerryError> {
    const o = this.o;
    const channels = this.dataChannels;
    this.dataChannels = [];
    if (this.pageServer && this.phase.is('committed', 'postcopy')) {
      this.phase.to('outcome-unknown');
      const interrupted = new MigrationError(
        ErrorCode.POSTCOPY_INTERRUPTED,
        `post-copy interrupted (${error.message}): the guest runs on the destination without ${this.pageServer.pagesLeft} pages ` +
          'this host still holds; the source guest stays paused with its memory intact',
        { cause: error },
      );
      this.emit({ type: 'failed', error: interrupted, guestResumed: false });
      return interrupted;
    }
    if (this.phase.is('committed')) {
      this.phase.to('outcome-unknown');
      const unknown = new MigrationError(
        ErrorCode.OUTCOME_UNKNOWN,
        'connection lost after COMMIT: the destination may be running the guest; the source guest stays paused',
        { cause: error },
      );
      this.emit({ type: 'failed', error: unknown, guestResumed: false });
      return unknown;
    }
    if (this.transport && !this.transport.closed) {
      try {
        this.transport.write(encodeFrame(MessageType.ABORT, msg.errorReport, { code: error.code, message: error.message }));
        await Promise.race([this.transport.end(), new Promise((r) => setTimeout(r, 1000).unref())]);
      } catch {
        // The connection is going away anyway; the ABORT was a courtesy.
      }
      this.transport.destroy(error);
    }
    for (const c of channels) c.destroy(error);
    try {
      o.tracker?.stop();
    } catch {
      // Stopping a tracker must not mask the migration's own error.
    }
    if (this.throttlePercent > 0) {
      try {
        await o.controlPlane.throttle?.(0);
        this.throttlePercent = 0;
      } catch {
        // The guest runs slower until the control plane notices; the migration's error matters more.
      }
    }
    let resumed = true;
    if (this.paused) {
      try {
        await o.controlPlane.resume();
      } catch (err) {
        resumed = false;
        error = new MigrationError(ErrorCode.CONTROL_PLANE_FAILED, `migration failed (${error.message}) and resume() failed too`, {
          cause: err,
        });
      }
    }
    if (!this.phase.is('failed')) this.phase.to('failed');
    this.emit({ type: 'failed', error, guestResumed: resumed });
    return error;
  }

  private checkAborted(): void {
    if (this.o.signal?.aborted) throw new MigrationError(ErrorCode.ABORTED, 'migration cancelled', { cause: this.o.signal.reason });
  }

  private emit(event: MigrationEvent): void {
    try {
      this.o.onEvent?.(event);
    } catch {
      // A listener's bug must not fail the migration.
    }
  }
}

const HANDSHAKE_CODES = new Set<string>([
  ErrorCode.VERSION_UNSUPPORTED,
  ErrorCode.INCOMPATIBLE_GUEST,
  ErrorCode.AUTH_REQUIRED,
  ErrorCode.AUTH_FAILED,
]);

function handshakeCode(code: string): ErrorCode {
  return HANDSHAKE_CODES.has(code) ? (code as ErrorCode) : ErrorCode.REJECTED;
}

/**
 * The hash of every page as last sent: post-copy's entry for the pages it was to send (the
 * missing set when it began), pre-copy's for the rest (clean since they were sent).
 */
function mergeSentHashes(
  precopy: BigUint64Array | undefined,
  postcopy: BigUint64Array,
  postcopyPages: readonly DirtyBitmap[],
): BigUint64Array {
  if (!precopy) return postcopy;
  const merged = precopy.slice();
  let key = 0;
  for (const pages of postcopyPages) {
    for (let p = pages.nextSet(0); p >= 0; p = pages.nextSet(p + 1)) merged[key + p] = postcopy[key + p]!;
    key += pages.bitCount;
  }
  return merged;
}

/** The missing pages of one region as POSTCOPY_MISSING messages of at most 2^20 pages each. */
async function sendMissingMap(transport: FrameTransport, region: number, missing: DirtyBitmap): Promise<void> {
  for (let first = 0; first < missing.bitCount; first += MAX_MISSING_PAGES_PER_MESSAGE) {
    const count = Math.min(MAX_MISSING_PAGES_PER_MESSAGE, missing.bitCount - first);
    if (missing.nextSet(first) < 0 || missing.nextSet(first) >= first + count) continue;
    // `first` is a multiple of 32: the chunk's bits are whole words of the region's bitmap.
    const part = new DirtyBitmap(count, missing.words.slice(first >>> 5, (first + count + 31) >>> 5));
    await transport.send(
      encodeFrame(MessageType.POSTCOPY_MISSING, msg.postcopyMissing, { region, firstPage: first, pageCount: count, runs: part.toRuns() }),
    );
  }
}

async function sendDeviceState(transport: FrameTransport, state: Uint8Array): Promise<void> {
  let offset = 0;
  do {
    const data = state.subarray(offset, offset + DEVICE_STATE_CHUNK_BYTES);
    await transport.send(encodeFrame(MessageType.DEVICE_STATE, msg.deviceState, { totalBytes: state.byteLength, offset, data }));
    offset += data.byteLength;
  } while (offset < state.byteLength);
}

async function callHook<T>(name: string, hook: () => T | Promise<T>): Promise<T> {
  try {
    return await hook();
  } catch (err) {
    throw new MigrationError(
      ErrorCode.CONTROL_PLANE_FAILED,
      `control plane ${name}() failed: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
}
