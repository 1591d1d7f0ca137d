import type { DirtyBitmap } from '../dirty/bitmap.ts';
import { ErrorCode, type FerryError, HandshakeError, MigrationError, PeerError, ProtocolError, toFerryError } from '../errors.ts';
import type { MemoryLayout } from '../memory/layout.ts';
import { Feature, Intent, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION } from '../protocol/constants.ts';
import type { Frame } from '../protocol/frame.ts';
import { frameChecksFor } from '../protocol/frame-check.ts';
import { FRAME_HEADER_BYTES, MAX_FRAME_BODY_BYTES, MAX_HELLO_BODY_BYTES } from '../protocol/limits.ts';
import type * as msg from '../protocol/messages.ts';
import { decode, encode, Msg } from '../protocol/registry.ts';
import { Inbox } from '../transport/inbox.ts';
import { authenticateToDestination } from '../transport/psk-auth.ts';
import { TcpTransport } from '../transport/tcp.ts';
import type { FrameTransport } from '../transport/transport.ts';
import type { Clock } from '../util/clock.ts';
import { type Deferred, deferred } from '../util/deferred.ts';
import type { MigrationEvent } from './events.ts';
import { handlerFor } from './message-table.ts';
import type { MigrateOptions } from './migrate-options.ts';
import { MissingPageMap } from './missing-map.ts';
import { type SessionTerms, sourceTerms } from './negotiation.ts';
import { SOURCE_TABLE, type SourceHandler, type SourceState, sourceStateOf } from './source-table.ts';
import type { SourcePhase } from './state-machine.ts';

/**
 * The ECHO exchanges a pre-copy migration times before its first round (§3.7): three back to
 * back, then two after `idleMs` of silence each ("cold"), long enough for an idle
 * destination's thread (and vCPU) to sleep.
 */
export const ECHO_SCHEDULE: { readonly warm: number; readonly cold: number; readonly idleMs: number } = {
  warm: 3,
  cold: 2,
  idleMs: 10,
};

/** A connection of the migration with its reply inbox and a promise that rejects when it closes. */
export interface Link {
  readonly transport: TcpTransport;
  readonly inbox: Inbox;
  readonly closed: Deferred<never>;
}

/** A link after a RECOVER handshake, with the pages the destination says it lacks. */
export interface RecoveredLink extends Link {
  readonly missing: DirtyBitmap[];
  readonly missingPages: number;
}

/** What the source does with the messages handled on arrival (SOURCE_TABLE's `ack` and `pageRequest`). */
export interface SourceRouting {
  /** The migration's phase: the state of a connection past its greeting. */
  phase(): SourcePhase;
  /** A ROUND_ACK; throws if it does not match what was sent. */
  ack(ack: msg.RoundAck): void;
  /** A PAGE_REQUEST; throws if it is not valid now. */
  pageRequest(request: msg.PageRequest): void;
}

/** The HELLO of a session: the same for a migration, its data channels, a reconnection and a probe. */
export function helloMessage(o: {
  intent: Intent;
  sessionId: Uint8Array;
  layout: MemoryLayout;
  features: number;
  guestId?: string | undefined;
}): Buffer {
  return encode(Msg.HELLO, {
    versionMin: MIN_PROTOCOL_VERSION,
    versionMax: PROTOCOL_VERSION,
    intent: o.intent,
    sessionId: o.sessionId,
    pageSize: o.layout.pageSize,
    features: o.features,
    guestId: o.guestId ?? '',
    regions: o.layout.regions,
  });
}

/**
 * The source's connections to one destination for one session: the first one, extra data
 * channels, and reconnections after a break. Each is opened, greeted (HELLO with the session's
 * id and features, the PSK exchange when keyed) and checked the same way, and every message
 * that arrives on it is dispatched through SOURCE_TABLE.
 */
export class SourceConnector {
  private o: MigrateOptions;
  private readonly sessionId: Uint8Array;
  private readonly clock: Clock;
  private readonly routing: SourceRouting;
  private readonly emit: (event: MigrationEvent) => void;
  private readonly checkAborted: () => void;
  private shortestHandshakeRttMs = Number.POSITIVE_INFINITY;

  constructor(c: {
    options: MigrateOptions;
    sessionId: Uint8Array;
    clock: Clock;
    routing: SourceRouting;
    emit: (event: MigrationEvent) => void;
    checkAborted: () => void;
  }) {
    this.o = c.options;
    this.sessionId = c.sessionId;
    this.clock = c.clock;
    this.routing = c.routing;
    this.emit = c.emit;
    this.checkAborted = c.checkAborted;
  }

  /**
   * The shortest time from our last handshake frame to the destination's answer: a round trip
   * between the two engines' event loops, which a switchover pays, unlike the TCP handshake's
   * (answered by the kernel). An upper bound: the destination's admission work is in it.
   */
  get handshakeRttMs(): number {
    return this.shortestHandshakeRttMs;
  }

  /** The options as the destination's terms allow them (recovery, channels), from the handshake on. */
  adapt(options: MigrateOptions): void {
    this.o = options;
  }

  /** A new connection to the destination (TLS when configured), within `timeoutMs` if given. */
  connect(timeoutMs?: number): Promise<TcpTransport> {
    const o = this.o;
    const limit = timeoutMs ?? o.connectTimeoutMs;
    return TcpTransport.connect({
      host: o.host,
      port: o.port,
      maxBodyBytes: MAX_HELLO_BODY_BYTES,
      ...(limit !== undefined && { timeoutMs: limit }),
      ...(o.signal !== undefined && { signal: o.signal }),
      ...(o.tls !== undefined && { tls: o.tls }),
    });
  }

  /**
   * A migration connection (`session`), a reconnection (`recovering` until RECOVER_END) or a
   * data channel: its inbox, last words and close promise, with arrivals dispatched through
   * SOURCE_TABLE from `greeting` on.
   */
  attach(transport: TcpTransport, after: 'session' | 'recovering' | 'channel' = 'session'): Link {
    transport.setIdleTimeout(after === 'channel' ? 0 : (this.o.idleTimeoutMs ?? 30_000));
    if (this.o.frameDeadlineMs !== undefined) transport.setFrameDeadline(this.o.frameDeadlineMs);
    // ABORT only while the guest is ours and the connection will not be recovered: after COMMIT
    // the destination may run the guest, and a connection that fails on its own (a bad frame, a
    // timeout) is recovered, not aborted, wherever recovery applies.
    transport.setLastWords((err) => {
      const phase = this.routing.phase();
      const recoverable = phase === 'precopy' && (this.o.precopyRecoveryMs ?? 0) > 0;
      return GUEST_OURS.has(phase) && !recoverable ? encode(Msg.ABORT, { code: err.code, message: err.message }) : undefined;
    });
    let state: SourceState | 'session' = 'greeting';
    const inbox = new Inbox(transport, (frame) => {
      try {
        const now = state === 'session' ? sourceStateOf(this.routing.phase()) : state;
        return this.dispatch(
          transport,
          handlerFor(SOURCE_TABLE, now, frame),
          frame,
          (next) => {
            state = next === 'session' ? 'session' : next;
          },
          after,
        );
      } catch (err) {
        transport.destroy(toFerryError(err, ErrorCode.FRAME_MALFORMED));
        return true;
      }
    });
    const closed = deferred<never>();
    closed.promise.catch(() => {});
    transport.onClose((err) => closed.reject(err));
    return { transport, inbox, closed };
  }

  /** Runs a SOURCE_TABLE handler; true when the frame was consumed, false when it queues for the phase awaiting it. */
  private dispatch(
    transport: TcpTransport,
    handler: SourceHandler,
    frame: Frame,
    moveTo: (state: SourceState | 'session') => void,
    after: 'session' | 'recovering' | 'channel',
  ): boolean {
    switch (handler) {
      case 'await':
        return false;
      case 'accepted':
        // Sealed from the accept's arrival, not when the handshake reads it: a failure that came
        // in the same read (FAILED right behind it) is answered with a checked ABORT.
        transport.setFrameChecks(frameChecksFor(acceptedVersion(decode(Msg.HELLO_ACCEPT, frame))));
        moveTo(after);
        return false;
      case 'recovered':
        moveTo('session');
        return false;
      case 'ack':
        this.routing.ack(decode(Msg.ROUND_ACK, frame));
        return true;
      case 'pageRequest':
        this.routing.pageRequest(decode(Msg.PAGE_REQUEST, frame));
        return true;
      case 'refused': {
        const report = decode(Msg.HELLO_REJECT, frame);
        throw new HandshakeError(handshakeCode(report.code), `destination refused: ${report.message}`);
      }
      case 'peerFailed': {
        const report = decode(Msg.FAILED, frame);
        throw new PeerError(report.code, report.message);
      }
    }
  }

  /** HELLO (and the PSK exchange when keyed) up to HELLO_ACCEPT; returns the terms the destination accepted on. */
  async handshake(transport: FrameTransport, inbox: Inbox, intent: Intent): Promise<SessionTerms> {
    const o = this.o;
    const features =
      (o.psk ? Feature.PSK_AUTH : 0) |
      ((o.strategy ?? 'precopy') === 'precopy' ? 0 : Feature.POSTCOPY) |
      ((o.precopyRecoveryMs ?? 0) > 0 ? Feature.RESUMABLE : 0) |
      ((o.channels ?? 1) > 1 ? Feature.CHANNELS : 0);
    const helloFrame = helloMessage({ intent, sessionId: this.sessionId, layout: o.memory.layout, features, guestId: o.guestId });
    await transport.send(helloFrame);
    let lastSentAt = this.clock.nowMs();
    if (o.psk) {
      const next = (): Promise<Frame> => inbox.next(o.handshakeTimeoutMs ?? 10_000, 'authentication');
      await authenticateToDestination(transport, next, o.psk, this.sessionId, helloFrame.subarray(FRAME_HEADER_BYTES));
      lastSentAt = this.clock.nowMs();
    }
    const reply = await inbox.next(o.handshakeTimeoutMs ?? 10_000, 'handshake');
    this.shortestHandshakeRttMs = Math.min(this.shortestHandshakeRttMs, this.clock.nowMs() - lastSentAt);
    // The accept was checked and its version's frame checks set as it arrived (`dispatch`).
    const terms = sourceTerms(decode(Msg.HELLO_ACCEPT, reply), features, o.memory.layout.pageSize);
    // Nothing larger than the destination takes leaves this connection (a guard behind the
    // batch, chunk and map sizes chosen to fit).
    transport.setMaxSendBodyBytes(terms.maxFrameBodyBytes);
    return terms;
  }

  /**
   * Times ECHO exchanges (§3.7) with nothing else in flight: `warm` of them back to back (the
   * shortest is the round trip between two busy event loops), then `cold` each after
   * `idleMs` of silence (their mean is what reaching a destination that sat idle costs: the
   * switchover starts so, after pre-copy waited for the last round's acknowledgement, and on a
   * virtual machine a sleeping process can take most of a millisecond to wake).
   */
  async echoRtt(
    transport: FrameTransport,
    inbox: Inbox,
    o: { warm: number; cold: number; idleMs: number },
  ): Promise<{ warmMs: number; coldMs: number }> {
    let token = 0n;
    const once = async (): Promise<number> => {
      token++;
      const sentAt = this.clock.nowMs();
      await transport.send(encode(Msg.ECHO, { token }));
      const reply = decode(Msg.ECHO_REPLY, await inbox.next(this.o.handshakeTimeoutMs ?? 10_000, 'ECHO_REPLY'));
      if (reply.token !== token) {
        throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `ECHO_REPLY carries token ${reply.token}, we sent ${token}`);
      }
      return this.clock.nowMs() - sentAt;
    };
    let warmMs = Number.POSITIVE_INFINITY;
    for (let i = 0; i < o.warm; i++) warmMs = Math.min(warmMs, await once());
    let cold = 0;
    for (let i = 0; i < o.cold; i++) {
      await new Promise((resolve) => setTimeout(resolve, o.idleMs));
      cold += await once();
    }
    return { warmMs, coldMs: o.cold > 0 ? cold / o.cold : warmMs };
  }

  /**
   * Opens one extra data channel (HELLO intent CHANNEL). `onBroken` is called if it closes
   * later: a data channel that breaks breaks the migration.
   */
  async openChannel(onBroken: (channel: TcpTransport, error: FerryError) => void): Promise<TcpTransport> {
    const t = await this.connect();
    try {
      const link = this.attach(t, 'channel');
      await this.handshake(t, link.inbox, Intent.CHANNEL);
      t.onClose((err) => onBroken(t, err));
      return t;
    } catch (err) {
      t.destroy();
      throw err;
    }
  }

  /**
   * The connection broke: reconnect (same session, authenticated again) and learn which pages
   * the destination lacks. Retries until `timeoutMs`, then throws `FERRY_TIMEOUT`; a refusal
   * other than REJECTED (which may only mean the destination has not noticed the break yet)
   * ends it at once.
   */
  async reconnect(phase: 'precopy' | 'postcopy', timeoutMs: number, cause: FerryError): Promise<RecoveredLink> {
    const o = this.o;
    const deadline = this.clock.nowMs() + timeoutMs;
    let lastError = cause;
    for (let attempt = 1; this.clock.nowMs() < deadline; attempt++) {
      this.checkAborted();
      this.emit({ type: 'reconnecting', phase, attempt, reason: lastError.message });
      let transport: TcpTransport | undefined;
      try {
        transport = await this.connect(Math.max(100, Math.min(o.connectTimeoutMs ?? 5_000, deadline - this.clock.nowMs())));
        const link = this.attach(transport, 'recovering');
        await this.handshake(transport, link.inbox, Intent.RECOVER);
        transport.setMaxBodyBytes(MAX_FRAME_BODY_BYTES);
        const map = await MissingPageMap.read(o.memory.layout, 'RECOVER_MISSING', () =>
          link.inbox.next(o.handshakeTimeoutMs ?? 10_000, 'missing-page map'),
        );
        this.emit({ type: 'recovered', phase, missingPages: map.count });
        return { ...link, missing: map.bitmaps, missingPages: map.count };
      } catch (err) {
        transport?.destroy();
        lastError = toFerryError(err, ErrorCode.CONNECTION_LOST);
        const refused = lastError instanceof HandshakeError && lastError.code !== ErrorCode.REJECTED;
        if (refused || lastError instanceof PeerError) throw lastError;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new MigrationError(ErrorCode.TIMEOUT, `${phase} not recovered within ${timeoutMs} ms: ${lastError.message}`, {
      cause: lastError,
    });
  }
}

/**
 * An inbox route that only checks `state`'s row of SOURCE_TABLE: a message the state does not
 * list ends the connection with FERRY_UNEXPECTED_MESSAGE; the rest queue for the reader.
 */
export function checkedRoute(transport: FrameTransport, state: SourceState): (frame: Frame) => boolean {
  return (frame) => {
    try {
      handlerFor(SOURCE_TABLE, state, frame);
      return false;
    } catch (err) {
      transport.destroy(toFerryError(err, ErrorCode.UNEXPECTED_MESSAGE));
      return true;
    }
  };
}

/** The version the destination chose, checked. */
export function acceptedVersion(accept: msg.HelloAccept): number {
  if (accept.version < MIN_PROTOCOL_VERSION || accept.version > PROTOCOL_VERSION) {
    throw new HandshakeError(
      ErrorCode.VERSION_UNSUPPORTED,
      `destination chose version ${accept.version}, we speak ${MIN_PROTOCOL_VERSION}..${PROTOCOL_VERSION}`,
    );
  }
  return accept.version;
}

/** The phases in which the source still owns the guest: before COMMIT. */
const GUEST_OURS: ReadonlySet<SourcePhase> = new Set<SourcePhase>(['connecting', 'handshake', 'precopy', 'paused']);

const HANDSHAKE_CODES = new Set<string>([
  ErrorCode.VERSION_UNSUPPORTED,
  ErrorCode.INCOMPATIBLE_GUEST,
  ErrorCode.AUTH_REQUIRED,
  ErrorCode.AUTH_FAILED,
  ErrorCode.NOT_COMMITTED,
]);

/** The code of a HELLO_REJECT, as a handshake error's: unknown codes read as a plain refusal. */
function handshakeCode(code: string): ErrorCode {
  return HANDSHAKE_CODES.has(code) ? (code as ErrorCode) : ErrorCode.REJECTED;
}
