import type { DirtyTracker } from '../dirty/tracker.ts';
import { randomBytes } from 'node:crypto';
import type { Kernels } from '../accel/kernels.ts';
import { ErrorCode, type FerryError, MigrationError, PeerError, ProtocolError } from '../errors.ts';
import type * as msg from '../protocol/messages.ts';
import { Pacer } from '../transport/pacer.ts';
import type { TcpTransport } from '../transport/tcp.ts';
import type { FrameTransport } from '../transport/transport.ts';
import { type Clock, systemClock } from '../util/clock.ts';
import { type Link, type RecoveredLink, SourceConnector } from './connector.ts';
import type { MigrationEvent } from './events.ts';
import type { MigrateOptions } from './migrate-options.ts';
import { type MigrationStatus, StatusBoard } from './migration-status.ts';
import { adaptToTerms, type SessionTerms } from './negotiation.ts';
import type { NegotiatedTerms } from './report.ts';
import { RoundAcks } from './round-acks.ts';
import { SOURCE_TRANSITIONS, type SourcePhase, StateMachine } from './state-machine.ts';
import { logger } from '../util/log.ts';
import { loggable } from './loggable.ts';

const log = logger('session');

/** When the guest was paused, and what had been written by then: the start of downtime. */
export interface PauseMark {
  readonly bytesBeforePause: number;
  readonly pauseStart: number;
  readonly pausedAt: number;
}

/**
 * One migration on the source, as every phase sees it: the options, the phase, the current
 * control connection and the data channels, the byte counts, the guest's pause and throttle
 * through the control plane, and the routing of messages handled on arrival. Phases read and
 * advance it; none keeps state of the migration elsewhere.
 */
export class SourceContext {
  /** The options, as the destination's terms allow them from the handshake on (`agree`). */
  o: MigrateOptions;
  readonly clock: Clock;
  readonly phase: StateMachine<SourcePhase>;
  readonly sessionId: Uint8Array = randomBytes(16);
  readonly connector: SourceConnector;
  readonly pacer: Pacer;
  readonly acks: RoundAcks;
  readonly startMs: number;
  /** Follows the events for `status()` and a failed migration's report. */
  readonly board: StatusBoard = new StatusBoard();
  /** The control connection; replaced when a broken one is recovered. */
  link: Link | undefined;
  /** Extra data channels (`channels` − 1), open during pre-copy and the final round. */
  dataChannels: TcpTransport[] = [];
  kernels: Kernels | undefined;
  /** Why the JavaScript kernels run instead of the addon, when nobody asked for them. */
  kernelsFallback: string | undefined;
  /** What the destination's HELLO_ACCEPT allows; set by `agree`. */
  terms: SessionTerms | undefined;
  /** The terms as the report gives them, with what the source did without. */
  negotiated: NegotiatedTerms | undefined;
  /** Connections lost and recovered during pre-copy. */
  recoveries = 0;
  /** Page and control bytes written in each whole second of the migration. */
  readonly bytesPerSecond: number[] = [];
  /** The tracker pre-copy runs: the caller's, or it cross-checked by a second (`verify: 'tracker'`). */
  tracker: DirtyTracker;
  /** The policy's last decision other than continue, and the prediction it saw (pure post-copy: none). */
  decision: { reason: string; predictedDowntimeMs: number } | undefined;
  /** Answers post-copy page requests from just before COMMIT on; undefined before. */
  pageServer: PageService | undefined;
  private bytesOnEarlierConnections = 0;
  private paused = false;
  /** The throttle the control plane last applied, percent. */
  private throttlePercent = 0;

  constructor(options: MigrateOptions) {
    this.o = options;
    this.tracker = options.tracker;
    this.clock = options.clock ?? systemClock;
    this.startMs = this.clock.nowMs();
    this.pacer = options.maxBandwidth instanceof Pacer ? options.maxBandwidth : new Pacer(options.maxBandwidth ?? 0, { clock: this.clock });
    this.acks = new RoundAcks(this.clock);
    this.phase = new StateMachine<SourcePhase>('connecting', SOURCE_TRANSITIONS, (from, to) => this.emit({ type: 'phase', from, to }));
    this.connector = new SourceConnector({
      options,
      sessionId: this.sessionId,
      clock: this.clock,
      routing: {
        phase: () => this.phase.state,
        ack: (ack) => this.acks.acknowledge(ack),
        pageRequest: (request) => this.pageRequest(request),
      },
      emit: (event) => this.emit(event),
      checkAborted: () => this.checkAborted(),
    });
  }

  /** The protocol version the destination chose (0 before HELLO_ACCEPT). */
  get version(): number {
    return this.terms?.version ?? 0;
  }

  /**
   * The destination accepted on `terms`: from now on the options are what they allow (features
   * it declined dropped where the migration can do without them, else FERRY_FEATURE_REFUSED).
   */
  agree(terms: SessionTerms): void {
    const { options, negotiated } = adaptToTerms(this.o, terms);
    this.terms = terms;
    this.negotiated = negotiated;
    this.o = options;
    this.connector.adapt(options);
    if (negotiated.declined.length > 0) log('the destination declined: %s', negotiated.declined.join('; '));
  }

  /** The control connection; there is one from the handshake on. */
  get transport(): TcpTransport {
    return this.link!.transport;
  }

  /** Bytes written on every connection of this migration so far. */
  transportBytes(): number {
    let n = this.bytesOnEarlierConnections + (this.link?.transport.bytesWritten ?? 0);
    for (const c of this.dataChannels) n += c.bytesWritten;
    return n;
  }

  /** Records the bytes written in each second of the migration until the returned stop is called. */
  sampleBytesPerSecond(): () => void {
    let lastBytes = 0;
    const sampler = setInterval(() => {
      const bytes = this.transportBytes();
      this.bytesPerSecond.push(bytes - lastBytes);
      lastBytes = bytes;
    }, 1000);
    sampler.unref();
    return () => clearInterval(sampler);
  }

  get guestPaused(): boolean {
    return this.paused;
  }
  get throttled(): number {
    return this.throttlePercent;
  }

  /** Pauses the guest through the control plane: the start of downtime, and what it cost. */
  async pauseGuest(): Promise<PauseMark> {
    const bytesBeforePause = this.transportBytes();
    const pauseStart = this.clock.nowMs();
    this.phase.to('paused');
    this.paused = true;
    await this.hook('pause', () => this.o.controlPlane.pause());
    return { bytesBeforePause, pauseStart, pausedAt: this.clock.nowMs() };
  }

  /** Asks the control plane to slow the guest (auto-converge); without a `throttle` hook it is a no-op. */
  async throttle(percent: number, reason: string): Promise<void> {
    const hook = this.o.controlPlane.throttle;
    if (!hook || percent === this.throttlePercent) return;
    await this.hook('throttle', () => hook.call(this.o.controlPlane, percent));
    this.throttlePercent = percent;
    this.emit({ type: 'throttle', percent, reason });
  }

  /** Lifts a throttle after a failure; a failing hook here must not mask the migration's error. */
  async liftThrottle(): Promise<void> {
    if (this.throttlePercent === 0) return;
    try {
      await this.o.controlPlane.throttle?.(0);
      this.throttlePercent = 0;
    } catch {
      // The guest runs slower until the control plane notices; the migration's error matters more.
    }
  }

  /**
   * Only a broken connection is worth a reconnect: not what the destination refused or found
   * wrong (that stays wrong), nor a cancellation.
   */
  worthReconnecting(error: FerryError, transport: FrameTransport): boolean {
    if (error instanceof PeerError || (this.o.signal?.aborted && !this.pastCommit)) return false;
    return transport.closed || error.code === ErrorCode.CONNECTION_LOST || error.code === ErrorCode.TIMEOUT;
  }

  /** Reconnects through the connector and makes the new connection the migration's. */
  async reconnect(phase: 'precopy' | 'postcopy', timeoutMs: number, cause: FerryError): Promise<RecoveredLink> {
    const back = await this.connector.reconnect(phase, timeoutMs, cause);
    this.bytesOnEarlierConnections += this.link?.transport.bytesWritten ?? 0;
    this.link = back;
    return back;
  }

  /** Ends the data channels, keeping their byte counts for the report. */
  async closeChannels(): Promise<void> {
    const channels = this.dataChannels;
    this.dataChannels = [];
    for (const c of channels) this.bytesOnEarlierConnections += c.bytesWritten;
    await Promise.all(channels.map((c) => c.end().catch(() => {})));
  }

  /** Runs a control-plane hook; its failure is FERRY_CONTROL_PLANE_FAILED naming the hook. */
  async hook<T>(name: string, hook: () => T | Promise<T>): Promise<T> {
    try {
      return await hook();
    } catch (err) {
      throw new MigrationError(
        ErrorCode.CONTROL_PLANE_FAILED,
        `control plane ${name}() failed: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  /** COMMIT has been sent: the destination may run the guest, and a cancellation is ignored. */
  get pastCommit(): boolean {
    return this.phase.is('committed', 'postcopy', 'completed', 'outcome-unknown');
  }

  checkAborted(): void {
    if (this.o.signal?.aborted && !this.pastCommit)
      throw new MigrationError(ErrorCode.ABORTED, 'migration cancelled', { cause: this.o.signal.reason });
  }

  /** Where the migration stands now. */
  status(): MigrationStatus {
    return this.board.status({
      phase: this.phase.state,
      elapsedMs: this.clock.nowMs() - this.startMs,
      bytesSent: this.transportBytes(),
      recoveries: this.recoveries,
    });
  }

  emit(event: MigrationEvent): void {
    this.board.observe(event);
    if (log.enabled && event.type !== 'progress') log('source %s %o', event.type, loggable(event));
    try {
      this.o.onEvent?.(event);
    } catch {
      // A listener's bug must not fail the migration.
    }
  }

  /** A PAGE_REQUEST: valid only for pages of the guest, once post-copy's page server runs. */
  private pageRequest(request: msg.PageRequest): void {
    const region = this.o.memory.regions[request.region];
    if (!this.pageServer || !region || request.page + request.count > region.pageCount) throw invalidPageRequest(request);
    this.pageServer.request(request.region, request.page, request.count);
  }
}

/** What the context needs of post-copy's page server. */
export interface PageService {
  /** Pages the destination still lacks. */
  readonly pagesLeft: number;
  /** The destination's guest waits for these pages: send them first. */
  request(region: number, page: number, count: number): void;
}

/** A PAGE_REQUEST that no page server can take: before COMMIT, or past a region's end. */
function invalidPageRequest(request: msg.PageRequest): ProtocolError {
  return new ProtocolError(
    ErrorCode.UNEXPECTED_MESSAGE,
    `PAGE_REQUEST for region ${request.region} page ${request.page} (+${request.count}) is not valid now`,
  );
}
