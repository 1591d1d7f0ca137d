import { DirtyBitmap } from '../dirty/bitmap.ts';
import { ErrorCode, type FerryError, HandshakeError, MigrationError, PeerError, ProtocolError, toFerryError } from '../errors.ts';
import { Feature, Intent, MessageType, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION } from '../protocol/constants.ts';
import { decodeBody, encodeFrame, expectType, type Frame } from '../protocol/frame.ts';
import { FRAME_HEADER_BYTES, MAX_FRAME_BODY_BYTES, MAX_HELLO_BODY_BYTES } from '../protocol/limits.ts';
import * as msg from '../protocol/messages.ts';
import type { MigrationEvent } from '../session/events.ts';
import { Inbox } from '../transport/inbox.ts';
import { authenticateToDestination } from '../transport/psk-auth.ts';
import { TcpTransport } from '../transport/tcp.ts';
import type { FrameTransport } from '../transport/transport.ts';
import type { Clock } from '../util/clock.ts';
import { type Deferred, deferred } from '../util/deferred.ts';
import type { MigrateOptions } from './source.ts';

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

/**
 * The source's connections to one destination for one session: the first one, extra data
 * channels, and reconnections after a break. Each is opened, greeted (HELLO with the session's
 * id and features, the PSK exchange when keyed) and checked the same way.
 */
export class SourceConnector {
  private readonly o: MigrateOptions;
  private readonly sessionId: Uint8Array;
  private readonly clock: Clock;
  private readonly route: (frame: Frame) => boolean;
  private readonly emit: (event: MigrationEvent) => void;
  private readonly checkAborted: () => void;
  /**
   * The shortest time from our last handshake frame to the destination's answer: a round trip
   * between the two engines' event loops, which a switchover pays, unlike the TCP handshake's
   * (answered by the kernel). An upper bound: the destination's admission work is in it.
   */
  handshakeRttMs: number = Number.POSITIVE_INFINITY;

  constructor(c: {
    options: MigrateOptions;
    sessionId: Uint8Array;
    clock: Clock;
    /** Frames handled on arrival (acknowledgements, page requests, failures); others queue in the inbox. */
    route: (frame: Frame) => boolean;
    emit: (event: MigrationEvent) => void;
    checkAborted: () => void;
  }) {
    this.o = c.options;
    this.sessionId = c.sessionId;
    this.clock = c.clock;
    this.route = c.route;
    this.emit = c.emit;
    this.checkAborted = c.checkAborted;
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

  /** HELLO (and the PSK exchange when keyed) up to HELLO_ACCEPT; returns the version chosen. */
  async handshake(transport: FrameTransport, inbox: Inbox, intent: Intent): Promise<number> {
    const o = this.o;
    const helloFrame = encodeFrame(MessageType.HELLO, msg.hello, {
      versionMin: MIN_PROTOCOL_VERSION,
      versionMax: PROTOCOL_VERSION,
      intent,
      sessionId: this.sessionId,
      pageSize: o.memory.pageSize,
      features:
        (o.psk ? Feature.PSK_AUTH : 0) |
        ((o.strategy ?? 'precopy') === 'precopy' ? 0 : Feature.POSTCOPY) |
        ((o.precopyRecoveryMs ?? 0) > 0 ? Feature.RESUMABLE : 0) |
        ((o.channels ?? 1) > 1 ? Feature.CHANNELS : 0),
      guestId: o.guestId ?? '',
      regions: o.memory.layout.regions,
    });
    await transport.send(helloFrame);
    let lastSentAt = this.clock.nowMs();
    if (o.psk) {
      const next = (): Promise<Frame> => inbox.next(o.handshakeTimeoutMs ?? 10_000, 'authentication');
      await authenticateToDestination(transport, next, o.psk, this.sessionId, helloFrame.subarray(FRAME_HEADER_BYTES));
      lastSentAt = this.clock.nowMs();
    }
    const reply = await inbox.next(o.handshakeTimeoutMs ?? 10_000, 'handshake');
    this.handshakeRttMs = Math.min(this.handshakeRttMs, this.clock.nowMs() - lastSentAt);
    return expectHandshake(reply);
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
      await transport.send(encodeFrame(MessageType.ECHO, msg.echo, { token }));
      const frame = await inbox.next(this.o.handshakeTimeoutMs ?? 10_000, 'ECHO_REPLY');
      const reply = decodeBody(msg.echo, expectType(frame, MessageType.ECHO_REPLY));
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
      t.setIdleTimeout(0);
      const inbox = new Inbox(t, () => false);
      await this.handshake(t, inbox, Intent.CHANNEL);
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
        const link = this.attach(transport);
        await this.handshake(transport, link.inbox, Intent.RECOVER);
        transport.setMaxBodyBytes(MAX_FRAME_BODY_BYTES);
        const { missing, missingPages } = await this.readMissing(link.inbox);
        this.emit({ type: 'recovered', phase, missingPages });
        return { ...link, missing, missingPages };
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

  /** The inbox, last words and close promise of a migration connection. */
  attach(transport: TcpTransport): Link {
    const o = this.o;
    transport.setIdleTimeout(o.idleTimeoutMs ?? 30_000);
    transport.setLastWords((err) => encodeFrame(MessageType.ABORT, msg.errorReport, { code: err.code, message: err.message }));
    const inbox = new Inbox(transport, (frame) => this.route(frame));
    const closed = deferred<never>();
    closed.promise.catch(() => {});
    transport.onClose((err) => closed.reject(err));
    return { transport, inbox, closed };
  }

  /** RECOVER_MISSING messages up to RECOVER_END, as bitmaps per region. */
  private async readMissing(inbox: Inbox): Promise<{ missing: DirtyBitmap[]; missingPages: number }> {
    const o = this.o;
    const missing = o.memory.regions.map((r) => new DirtyBitmap(r.pageCount));
    let count = 0;
    for (;;) {
      const frame = await inbox.next(o.handshakeTimeoutMs ?? 10_000, 'missing-page map');
      if (frame.type === MessageType.RECOVER_END) {
        const end = decodeBody(msg.recoverEnd, frame.body);
        if (end.missingPages !== count) {
          throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `RECOVER_END counts ${end.missingPages} missing pages, the maps ${count}`);
        }
        return { missing, missingPages: count };
      }
      const m = decodeBody(msg.postcopyMissing, expectType(frame, MessageType.RECOVER_MISSING));
      const target = missing[m.region];
      if (!target || m.firstPage + m.pageCount > target.bitCount) {
        throw new ProtocolError(ErrorCode.PAGE_OUT_OF_RANGE, `RECOVER_MISSING past the end of region ${m.region}`);
      }
      const part = DirtyBitmap.fromRuns(m.pageCount, m.runs);
      for (let p = part.nextSet(0); p >= 0; p = part.nextSet(p + 1)) target.set(m.firstPage + p);
      count += part.count();
    }
  }
}

/** The version the destination chose, checked. */
function expectHandshake(frame: Frame): number {
  const accept = decodeBody(msg.helloAccept, expectType(frame, MessageType.HELLO_ACCEPT));
  if (accept.version < MIN_PROTOCOL_VERSION || accept.version > PROTOCOL_VERSION) {
    throw new HandshakeError(
      ErrorCode.VERSION_UNSUPPORTED,
      `destination chose version ${accept.version}, we speak ${MIN_PROTOCOL_VERSION}..${PROTOCOL_VERSION}`,
    );
  }
  return accept.version;
}
