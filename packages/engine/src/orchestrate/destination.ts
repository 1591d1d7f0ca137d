import net from 'node:net';
import tls from 'node:tls';
import { loadKernels } from '../accel/index.ts';
import type { Kernels } from '../accel/kernels.ts';
import { BatchDecoder } from '../codec/batch-decoder.ts';
import { ErrorCode, type FerryError, HandshakeError, MigrationError, ProtocolError, toFerryError } from '../errors.ts';
import { GuestMemory } from '../memory/guest-memory.ts';
import { checkLayout, layoutMismatch, type MemoryLayout, totalBytes } from '../memory/layout.ts';
import {
  Feature,
  Intent,
  KNOWN_FEATURES,
  MessageType,
  messageName,
  ECHO_MIN_VERSION,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
} from '../protocol/constants.ts';
import { DirtyBitmap } from '../dirty/bitmap.ts';
import { type FaultStats, PostcopyReceiver } from '../postcopy/receiver.ts';
import { decodeBody, encodeFrame, type Frame } from '../protocol/frame.ts';
import {
  MAX_DATA_CHANNELS,
  MAX_DEVICE_STATE_BYTES,
  MAX_FRAME_BODY_BYTES,
  MAX_HELLO_BODY_BYTES,
  MAX_MISSING_PAGES_PER_MESSAGE,
  MAX_PROBE_BYTES,
  MAX_PROBE_DATA_BODY_BYTES,
  MAX_ECHOES,
} from '../protocol/limits.ts';
import * as msg from '../protocol/messages.ts';
import { PageBatch } from '../protocol/pages.ts';
import type { DestinationEvent } from '../session/events.ts';
import { DESTINATION_TRANSITIONS, type DestinationPhase, StateMachine } from '../session/state-machine.ts';
import { Inbox } from '../transport/inbox.ts';
import { authenticateSource } from '../transport/psk-auth.ts';
import { TcpTransport } from '../transport/tcp.ts';
import type { TlsOptions } from '../transport/tls-options.ts';
import { toHex } from '../util/bytes.ts';
import { type Clock, systemClock } from '../util/clock.ts';
import { type Deferred, deferred } from '../util/deferred.ts';
import type { DestinationControlPlane, IncomingGuest } from './control-plane.ts';

export interface ListenOptions {
  readonly controlPlane: DestinationControlPlane;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 0: the OS picks; read `port` afterwards. */
  readonly port?: number;
  /** Page sizes this host can run; a guest with another is refused at the handshake. Default: any. */
  readonly pageSizes?: readonly number[];
  /**
   * A pre-shared key: only sources that prove they know it are taken, and we prove it to them,
   * before anything is allocated. Without one, any source that speaks the protocol is taken.
   */
  readonly psk?: Uint8Array;
  /**
   * Mutual TLS: present `cert`, require a client certificate that chains to `ca`. A peer that
   * fails the TLS handshake never reaches the protocol.
   */
  readonly tls?: TlsOptions;
  /**
   * How a guest waits for pages still missing in post-copy:
   * - `cooperative` (default): it calls `PostcopyPager.ensure` (or `PostcopyAccess.ensure`)
   *   before touching a page.
   * - `userfaultfd`: real page faults (Linux): an unmodified guest thread that touches a
   *   missing page blocks in the kernel until it arrives. Needs anonymous memory the addon
   *   mapped: allocate it with `GuestMemory.map` in the `allocate` hook.
   */
  readonly postcopyFaults?: 'cooperative' | 'userfaultfd';
  /**
   * How long an interrupted post-copy waits for the source to reconnect before giving up with
   * `FERRY_POSTCOPY_INTERRUPTED` (keeping everything). Default 30 s.
   */
  readonly recoveryTimeoutMs?: number;
  /** Refuse guests larger than this. Default 16 GiB. */
  readonly maxGuestBytes?: number;
  /** Refuse device state larger than this. Default 256 MiB. */
  readonly maxDeviceStateBytes?: number;
  /** A connection must complete its HELLO within this. Default 10 s. */
  readonly handshakeTimeoutMs?: number;
  /** A migration that sends nothing for this long fails. Default 30 s. */
  readonly idleTimeoutMs?: number;
  readonly kernels?: Kernels;
  readonly onEvent?: (event: DestinationEvent) => void;
  readonly clock?: Clock;
}

/** What the destination ends up with after a successful migration. */
export interface IncomingMigration {
  readonly guestId: string;
  readonly sessionId: string;
  readonly memory: GuestMemory;
  readonly deviceState: Uint8Array;
  readonly digest: string;
  readonly pagesReceived: number;
  readonly bytesReceived: number;
  readonly rounds: number;
  /** Times the source reconnected after a broken connection (pre-copy or post-copy). */
  readonly recoveries: number;
  /** Connections pages came on: the control connection and the data channels. */
  readonly channels: number;
  /** Set when the guest resumed here before all its pages had arrived. */
  readonly postcopy?: FaultStats & { readonly missingPages: number; readonly durationMs: number; readonly recoveries: number };
}

/**
 * Listens for one incoming migration. Any number of probes are answered while it waits; the
 * first accepted migration is the only one: later ones are refused as busy, and once it ends
 * the listener closes. `result` settles with that migration's outcome.
 */
export class MigrationDestination {
  private readonly o: ListenOptions;
  private readonly server: net.Server | tls.Server;
  private readonly outcome = deferred<IncomingMigration>();
  private active = false;
  private kernels: Kernels | undefined;
  /** The accepted migration, for a post-copy RECOVER to find. */
  private session: IncomingSession | undefined;

  private constructor(options: ListenOptions) {
    this.o = options;
    const onSocket = (socket: net.Socket): void => {
      this.handle(socket).catch((err) => this.emit({ type: 'failed', error: toFerryError(err, ErrorCode.CONNECTION_LOST) }));
    };
    const t = options.tls;
    if (t) {
      const server = tls.createServer(
        { key: t.key, cert: t.cert, ca: t.ca as string | Buffer | (string | Buffer)[], requestCert: true, rejectUnauthorized: true },
        onSocket,
      );
      // A peer without an acceptable certificate is dropped by TLS; say so, and go on listening.
      server.on('tlsClientError', (err, socket) => {
        this.emit({
          type: 'rejected',
          remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`,
          code: ErrorCode.AUTH_FAILED,
          reason: `TLS: ${err.message}`,
        });
      });
      this.server = server;
    } else {
      this.server = net.createServer(onSocket);
    }
  }

  static async listen(options: ListenOptions): Promise<MigrationDestination> {
    const d = new MigrationDestination(options);
    d.kernels = options.kernels ?? (await loadKernels());
    await new Promise<void>((resolve, reject) => {
      d.server.once('error', reject);
      d.server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        d.server.off('error', reject);
        resolve();
      });
    });
    return d;
  }

  get port(): number {
    return (this.server.address() as net.AddressInfo).port;
  }
  get host(): string {
    return (this.server.address() as net.AddressInfo).address;
  }

  /** Resolves when the guest runs here; rejects with a FerryError when the migration fails. */
  get result(): Promise<IncomingMigration> {
    return this.outcome.promise;
  }

  /** Stops listening; a migration in progress goes on. */
  close(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(socket: net.Socket): Promise<void> {
    const o = this.o;
    const transport = new TcpTransport(socket, MAX_HELLO_BODY_BYTES);
    const remote = transport.remoteAddress;
    transport.setLastWords((err) => encodeFrame(MessageType.HELLO_REJECT, msg.errorReport, { code: err.code, message: err.message }));
    this.emit({ type: 'connection', remote });
    transport.setIdleTimeout(o.handshakeTimeoutMs ?? 10_000);
    // Frames queue here until the handshake is answered: a source may send HELLO and its
    // authentication nonce in one write.
    const inbox = new Inbox(transport, () => false);
    let hello: msg.Hello;
    try {
      const frame = await inbox.next(o.handshakeTimeoutMs ?? 10_000, 'HELLO');
      if (frame.type !== MessageType.HELLO) {
        throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `first message must be HELLO, got ${messageName(frame.type)}`);
      }
      hello = decodeBody(msg.hello, frame.body);
      if (o.psk || (hello.features & Feature.PSK_AUTH) !== 0) await this.authenticate(transport, inbox, hello, frame.body);
      // A source waits for our answer; anything it sends before that breaks the protocol.
      const early = (what: string): ProtocolError =>
        new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `${what} sent before the handshake was answered`);
      if (inbox.pending > 0) throw early('a frame');
      transport.onFrame((f) => transport.destroy(early(messageName(f.type))));
    } catch (err) {
      const error = toFerryError(err, ErrorCode.CONNECTION_LOST);
      // A stranger gets one typed refusal and the door; nothing was allocated for it.
      if (!transport.closed) await refuse(transport, error.code, error.message);
      this.emit({ type: 'rejected', remote, code: error.code, reason: error.message });
      return;
    }

    const layout: MemoryLayout = { pageSize: hello.pageSize, regions: hello.regions };
    if (hello.intent === Intent.CHANNEL) {
      const session = this.session;
      if (!session?.canAddChannel(hello.sessionId)) {
        await refuse(transport, ErrorCode.REJECTED, 'no migration with this id is taking data channels here');
        this.emit({ type: 'rejected', remote, code: ErrorCode.REJECTED, reason: 'no session for this channel' });
        return;
      }
      session.addChannel(transport);
      return;
    }
    if (hello.intent === Intent.RECOVER) {
      // Only the interrupted session itself, authenticated like any source, may take it over.
      const session = this.session;
      if (
        !session?.canRecover(hello.sessionId) ||
        layoutMismatch(layout, { pageSize: session.hello.pageSize, regions: session.hello.regions })
      ) {
        await refuse(transport, ErrorCode.REJECTED, 'no interrupted post-copy session with this id is waiting here');
        this.emit({ type: 'rejected', remote, code: ErrorCode.REJECTED, reason: 'nothing to recover' });
        return;
      }
      await session.recover(transport);
      return;
    }
    const guest: IncomingGuest = { guestId: hello.guestId, layout, remote, probe: hello.intent === Intent.PROBE };
    // One migration at a time: reserve the slot before anything is awaited, so two sources
    // arriving together cannot both pass.
    const migrating = hello.intent === Intent.MIGRATE;
    if (migrating && (this.active || this.outcome.settled)) {
      await refuse(transport, ErrorCode.REJECTED, 'this destination is already taking a migration');
      this.emit({ type: 'rejected', remote, code: ErrorCode.REJECTED, reason: 'busy' });
      return;
    }
    if (migrating) this.active = true;
    const refusal = await this.admission(hello, guest);
    if (refusal && migrating) this.active = false;
    if (refusal) {
      await refuse(transport, refusal.code, refusal.message);
      this.emit(
        hello.intent === Intent.PROBE
          ? { type: 'probe', remote, accepted: false }
          : { type: 'rejected', remote, code: refusal.code, reason: refusal.message },
      );
      return;
    }
    if (hello.intent === Intent.PROBE) {
      await transport.send(acceptFrame(hello));
      this.emit({ type: 'probe', remote, accepted: true });
      // The source may now measure the link: PROBE_DATA (discarded, bounded) then PROBE_END.
      transport.setMaxBodyBytes(MAX_PROBE_DATA_BODY_BYTES);
      let received = 0;
      // Hashed like pages, so the source measures the rate page batches would get.
      const hashes = new BigUint64Array(MAX_PROBE_DATA_BODY_BYTES / 4096);
      transport.onFrame((f) => {
        if (f.type === MessageType.PROBE_DATA && received + f.body.byteLength <= MAX_PROBE_BYTES) {
          received += f.body.byteLength;
          const whole = f.body.byteLength - (f.body.byteLength % 4096);
          this.kernels!.hashPages(f.body.subarray(0, whole), 4096, hashes);
        } else if (f.type === MessageType.PROBE_END) {
          decodeBody(msg.probeCount, f.body);
          transport.write(encodeFrame(MessageType.PROBE_ACK, msg.probeCount, { bytes: received }));
          void transport.end().catch(() => {});
        } else {
          transport.destroy(
            new ProtocolError(
              ErrorCode.UNEXPECTED_MESSAGE,
              `a probe does not send ${messageName(f.type)} (or more than ${MAX_PROBE_BYTES} bytes)`,
            ),
          );
        }
      });
      return;
    }

    let memory: GuestMemory;
    try {
      memory = o.controlPlane.allocate ? await o.controlPlane.allocate(layout) : GuestMemory.fromLayout(layout);
      const mismatch = layoutMismatch(layout, memory.layout);
      if (mismatch) throw new HandshakeError(ErrorCode.INCOMPATIBLE_GUEST, `allocated memory does not fit the guest: ${mismatch}`);
    } catch (err) {
      const error = toFerryError(err, ErrorCode.CONTROL_PLANE_FAILED);
      await refuse(transport, error.code, error.message);
      this.finish(error);
      return;
    }
    transport.setMaxBodyBytes(MAX_FRAME_BODY_BYTES);
    transport.setIdleTimeout(o.idleTimeoutMs ?? 30_000);
    await transport.send(acceptFrame(hello));
    const decoder = new BatchDecoder(memory, this.kernels!, !o.controlPlane.allocate);
    this.session = new IncomingSession(this.o, transport, hello, memory, decoder, (result) => this.finish(result));
    this.session.start();
  }

  /**
   * Pre-shared-key authentication of the source (and of us to it) before anything else is
   * considered. A source that skips it, or does not know the key, is refused; so is one that
   * asks for it when we have no key.
   */
  private async authenticate(transport: TcpTransport, inbox: Inbox, hello: msg.Hello, helloBody: Uint8Array): Promise<void> {
    const key = this.o.psk;
    if (!key)
      throw new HandshakeError(
        ErrorCode.INCOMPATIBLE_GUEST,
        'the source asks for pre-shared-key authentication; this destination has no key',
      );
    if ((hello.features & Feature.PSK_AUTH) === 0) {
      throw new HandshakeError(ErrorCode.AUTH_REQUIRED, 'this destination takes only sources authenticated with its pre-shared key');
    }
    const next = (): Promise<Frame> => inbox.next(this.o.handshakeTimeoutMs ?? 10_000, 'authentication');
    await authenticateSource(transport, next, key, hello.sessionId, Buffer.from(helloBody));
  }

  /** The reason to refuse `hello`, or undefined to accept it. */
  private async admission(hello: msg.Hello, guest: IncomingGuest): Promise<{ code: ErrorCode; message: string } | undefined> {
    if (hello.versionMin > PROTOCOL_VERSION || hello.versionMax < MIN_PROTOCOL_VERSION) {
      return {
        code: ErrorCode.VERSION_UNSUPPORTED,
        message: `source speaks versions ${hello.versionMin}..${hello.versionMax}, we speak ${MIN_PROTOCOL_VERSION}..${PROTOCOL_VERSION}`,
      };
    }
    if ((hello.features & ~KNOWN_FEATURES) !== 0) {
      return { code: ErrorCode.INCOMPATIBLE_GUEST, message: `unknown feature bits 0x${hello.features.toString(16)}` };
    }
    try {
      checkLayout(guest.layout);
    } catch (err) {
      return { code: ErrorCode.INCOMPATIBLE_GUEST, message: (err as Error).message };
    }
    if (this.o.pageSizes && !this.o.pageSizes.includes(hello.pageSize)) {
      return {
        code: ErrorCode.INCOMPATIBLE_GUEST,
        message: `page size ${hello.pageSize} offered, this host runs ${this.o.pageSizes.join(' or ')}`,
      };
    }
    const maxGuestBytes = this.o.maxGuestBytes ?? 16 * 1024 ** 3;
    if (totalBytes(guest.layout) > maxGuestBytes) {
      return {
        code: ErrorCode.INCOMPATIBLE_GUEST,
        message: `guest has ${totalBytes(guest.layout)} bytes of memory, this host takes at most ${maxGuestBytes}`,
      };
    }
    try {
      const veto = await this.o.controlPlane.admit?.(guest);
      if (veto) return { code: ErrorCode.REJECTED, message: veto };
    } catch (err) {
      return { code: ErrorCode.REJECTED, message: `admission check failed: ${(err as Error).message}` };
    }
    return undefined;
  }

  private finish(result: IncomingMigration | FerryError): void {
    if (result instanceof Error) {
      this.emit({ type: 'failed', error: result });
      this.outcome.reject(result);
    } else {
      this.outcome.resolve(result);
    }
    this.server.close();
  }

  private emit(event: DestinationEvent): void {
    try {
      this.o.onEvent?.(event);
    } catch {
      // A listener's bug must not fail the migration.
    }
  }
}

/** Sends a typed refusal and closes. */
async function refuse(transport: TcpTransport, code: string, message: string): Promise<void> {
  try {
    transport.write(encodeFrame(MessageType.HELLO_REJECT, msg.errorReport, { code, message }));
    await Promise.race([transport.end(), new Promise((r) => setTimeout(r, 1000).unref())]);
  } catch {
    // The peer is gone already.
  }
  transport.destroy();
}

/** HELLO_ACCEPT with the highest version both sides speak (§5: a v1 source gets v1, and no ECHO). */
function acceptFrame(hello: msg.Hello): Buffer {
  return encodeFrame(MessageType.HELLO_ACCEPT, msg.helloAccept, {
    version: Math.min(PROTOCOL_VERSION, hello.versionMax),
    maxFrameBodyBytes: MAX_FRAME_BODY_BYTES,
  });
}

/** One accepted migration, from HELLO_ACCEPT to RESUMED. */
class IncomingSession {
  private readonly phase: StateMachine<DestinationPhase>;
  private readonly clock: Clock;
  private roundPages = 0;
  private rounds = 0;
  private deviceState: Uint8Array | undefined;
  private deviceStateFill = 0;
  private digest = 0n;
  private verifyMs = 0;
  private echoes = 0;
  /** Set while an async step (verify, resume) runs: the source must wait for our reply. */
  private busy = false;
  /** Set from POSTCOPY_ENTER on. */
  private postcopy: PostcopyReceiver | undefined;
  private postcopyMissing = 0;
  private postcopyStartMs = 0;
  private readonly postcopyComplete: Deferred<void> = deferred<void>();
  private recoveryTimer: NodeJS.Timeout | undefined;
  private recoveries = 0;
  /** Extra data channels, and what they need: pages counted per round, rounds announced but not all here. */
  private readonly channels: TcpTransport[] = [];
  private readonly pagesByRound = new Map<number, number>();
  private readonly pendingRounds = new Map<number, number>();
  private pendingComplete: msg.Complete | undefined;

  constructor(
    private readonly o: ListenOptions,
    private transport: TcpTransport,
    readonly hello: msg.Hello,
    private readonly memory: GuestMemory,
    private readonly decoder: BatchDecoder,
    private readonly done: (result: IncomingMigration | FerryError) => void,
  ) {
    this.clock = o.clock ?? systemClock;
    this.phase = new StateMachine<DestinationPhase>('handshake', DESTINATION_TRANSITIONS, (from, to) =>
      o.onEvent?.({ type: 'phase', from, to }),
    );
  }

  start(): void {
    this.phase.to('receiving');
    this.attach(this.transport);
  }

  /** Handlers for one connection; events of a connection that was replaced are ignored. */
  private attach(transport: TcpTransport): void {
    // Every frame is consumed before its handler returns (async steps decode their frame
    // first), so spanning PAGES frames can share buffers instead of allocating each.
    transport.reuseFrameBodies();
    transport.setLastWords((err) => encodeFrame(MessageType.FAILED, msg.errorReport, { code: err.code, message: err.message }));
    transport.onClose((err) => {
      if (transport !== this.transport || this.phase.is('resumed', 'failed')) return;
      if (this.phase.is('resuming') && !this.postcopy) return;
      clearTimeout(this.recoveryTimer);
      this.recoveryTimer = undefined;
      if (this.postcopy && this.phase.is('resuming', 'postcopy')) {
        this.awaitRecovery('postcopy', err);
        return;
      }
      if (this.phase.is('receiving') && (this.hello.features & Feature.RESUMABLE) !== 0) {
        this.awaitRecovery('precopy', err);
        return;
      }
      this.fail(err, false);
    });
    transport.onFrame((frame) => {
      if (transport !== this.transport || this.phase.is('failed')) return;
      try {
        this.onFrame(frame);
      } catch (err) {
        this.fail(toFerryError(err, ErrorCode.FRAME_MALFORMED), true);
      }
    });
  }

  /**
   * Hold on and wait for the source to reconnect: in post-copy because the guest's state is
   * split between the hosts, in pre-copy because the source asked for it (RESUMABLE) and what
   * arrived need not be sent again.
   */
  private awaitRecovery(phase: 'precopy' | 'postcopy', cause: FerryError): void {
    if (this.recoveryTimer) return;
    const timeoutMs = this.o.recoveryTimeoutMs ?? 30_000;
    this.o.onEvent?.({ type: 'interrupted', phase, reason: cause.message, recoveryTimeoutMs: timeoutMs });
    this.recoveryTimer = setTimeout(() => {
      this.recoveryTimer = undefined;
      this.fail(new MigrationError(ErrorCode.TIMEOUT, `no recovery within ${timeoutMs} ms (${cause.message})`, { cause }), false);
    }, timeoutMs);
    this.recoveryTimer.unref();
  }

  /** Whether a RECOVER handshake for `sessionId` belongs to this session and may take over. */
  canRecover(sessionId: Uint8Array): boolean {
    // Pre-copy over data channels is not recovered (yet): its rounds span connections. Post-copy
    // runs on the control connection alone, so it is.
    return (
      this.recoveryTimer !== undefined &&
      (this.postcopy !== undefined || this.channels.length === 0) &&
      Buffer.compare(Buffer.from(sessionId), Buffer.from(this.hello.sessionId)) === 0
    );
  }

  /**
   * The source is back (authenticated, same session): continue on `transport`. Tells it which
   * pages are still missing here (pages in flight when the connection broke may be lost) and
   * asks again for the pages guests are waiting for.
   */
  async recover(transport: TcpTransport): Promise<void> {
    clearTimeout(this.recoveryTimer);
    this.recoveryTimer = undefined;
    this.transport = transport;
    this.recoveries++;
    transport.setMaxBodyBytes(MAX_FRAME_BODY_BYTES);
    transport.setIdleTimeout(this.o.idleTimeoutMs ?? 30_000);
    this.attach(transport);
    transport.write(acceptFrame(this.hello));
    const receiver = this.postcopy;
    // Post-copy: the pages not here. Pre-copy: the pages never received (the source adds those
    // of rounds we had not acknowledged, which may have been lost with the connection). A word
    // at a time: the complement of the bits we hold (messages start on word boundaries).
    this.roundPages = 0;
    let missing = 0;
    this.memory.regions.forEach((region, r) => {
      const held = receiver ? receiver.presence.regions[r]! : this.decoder.received[r]!.words;
      for (let first = 0; first < region.pageCount; first += MAX_MISSING_PAGES_PER_MESSAGE) {
        const count = Math.min(MAX_MISSING_PAGES_PER_MESSAGE, region.pageCount - first);
        const part = new DirtyBitmap(count);
        const words = part.words;
        const base = first >>> 5;
        for (let w = 0; w < words.length; w++) words[w] = ~held[base + w]!;
        if (count % 32 !== 0) words[words.length - 1]! &= -1 >>> (32 - (count % 32));
        const n = part.count();
        if (n === 0) continue;
        missing += n;
        transport.write(
          encodeFrame(MessageType.RECOVER_MISSING, msg.postcopyMissing, {
            region: r,
            firstPage: first,
            pageCount: count,
            runs: part.toRuns(),
          }),
        );
      }
    });
    transport.write(encodeFrame(MessageType.RECOVER_END, msg.recoverEnd, { missingPages: missing }));
    receiver?.resendRequests();
    this.o.onEvent?.({ type: 'recovered', phase: receiver ? 'postcopy' : 'precopy', missingPages: missing });
  }

  private applyPages(frame: Frame): void {
    const batch = new PageBatch(frame.body, this.memory.pageSize);
    this.decoder.apply(batch);
    this.roundPages += batch.count;
    if (this.channels.length > 0) {
      this.pagesByRound.set(batch.round, (this.pagesByRound.get(batch.round) ?? 0) + batch.count);
      this.settleRounds();
    }
  }

  private ackRound(round: number, pages: number): void {
    const ack = { round, pages, bytesReceived: this.transport.bytesRead + this.channels.reduce((n, c) => n + c.bytesRead, 0) };
    this.transport.write(encodeFrame(MessageType.ROUND_ACK, msg.roundAck, ack));
    this.o.onEvent?.({ type: 'round-end', ...ack });
    this.rounds++;
  }

  /** Acknowledges every announced round whose pages have all arrived, then a waiting COMPLETE. */
  private settleRounds(): void {
    for (const [round, pages] of this.pendingRounds) {
      const got = this.pagesByRound.get(round) ?? 0;
      if (got > pages)
        throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `round ${round}: ${got} pages arrived, ROUND_END said ${pages}`);
      if (got < pages) continue;
      this.pendingRounds.delete(round);
      this.pagesByRound.delete(round);
      this.ackRound(round, pages);
    }
    if (this.pendingRounds.size === 0 && this.pendingComplete) {
      const complete = this.pendingComplete;
      this.pendingComplete = undefined;
      void this.verify(complete);
    }
  }

  /** Whether a CHANNEL handshake for `sessionId` may join this session now. */
  canAddChannel(sessionId: Uint8Array): boolean {
    return (
      (this.hello.features & Feature.CHANNELS) !== 0 &&
      this.phase.is('receiving') &&
      this.channels.length < MAX_DATA_CHANNELS - 1 &&
      Buffer.compare(Buffer.from(sessionId), Buffer.from(this.hello.sessionId)) === 0
    );
  }

  /**
   * An extra data channel: PAGES only, applied like those of the control connection. Its end
   * is not an error by itself: a channel lost mid-round leaves the round unacknowledged, and
   * the source, which sees its own channel fail, aborts on the control connection.
   */
  addChannel(transport: TcpTransport): void {
    this.channels.push(transport);
    transport.reuseFrameBodies();
    transport.setMaxBodyBytes(MAX_FRAME_BODY_BYTES);
    transport.setIdleTimeout(0);
    transport.write(acceptFrame(this.hello));
    transport.onFrame((frame) => {
      if (this.phase.is('failed')) return;
      try {
        if (frame.type !== MessageType.PAGES) {
          throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `a data channel carries PAGES only, not ${messageName(frame.type)}`);
        }
        this.expectPhase(frame, 'receiving', 'switchover');
        this.applyPages(frame);
      } catch (err) {
        this.fail(toFerryError(err, ErrorCode.FRAME_MALFORMED), true);
      }
    });
  }

  private onFrame(frame: Frame): void {
    // In post-copy the resume step clears `busy` before its hook runs: pages flow meanwhile.
    if (this.busy && frame.type !== MessageType.ABORT) {
      throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `${messageName(frame.type)} arrived while the destination was verifying`);
    }
    switch (frame.type) {
      case MessageType.PAGES: {
        if (this.postcopy) this.expectPhase(frame, 'resuming', 'postcopy');
        else this.expectPhase(frame, 'receiving', 'switchover');
        this.applyPages(frame);
        return;
      }
      case MessageType.ROUND_END: {
        this.expectPhase(frame, 'receiving', 'switchover');
        const end = decodeBody(msg.roundEnd, frame.body);
        if (this.channels.length === 0) {
          // One connection: every page of the round came before its ROUND_END; the count we
          // report lets the source check that none went missing.
          this.ackRound(end.round, this.roundPages);
          this.roundPages = 0;
        } else {
          // Pages of this round may still be on their way on other channels: acknowledge once
          // they are all here.
          this.pendingRounds.set(end.round, end.pages);
          this.settleRounds();
        }
        return;
      }
      case MessageType.ECHO: {
        if (Math.min(PROTOCOL_VERSION, this.hello.versionMax) < ECHO_MIN_VERSION) {
          throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `ECHO needs protocol version ${ECHO_MIN_VERSION}; this session speaks 1`);
        }
        this.expectPhase(frame, 'receiving');
        const e = decodeBody(msg.echo, frame.body);
        // Each ECHO gets a reply: a bound keeps a source that never reads from filling our queue.
        if (++this.echoes > MAX_ECHOES)
          throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `more than ${MAX_ECHOES} ECHO in one session`);
        this.transport.write(encodeFrame(MessageType.ECHO_REPLY, msg.echo, e));
        return;
      }
      case MessageType.SWITCHOVER:
        this.expectPhase(frame, 'receiving');
        decodeBody(msg.switchover, frame.body);
        this.phase.to('switchover');
        return;
      case MessageType.POSTCOPY_ENTER:
        this.expectPhase(frame, 'receiving');
        if ((this.hello.features & Feature.POSTCOPY) === 0) {
          throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, 'POSTCOPY_ENTER from a source that did not offer post-copy');
        }
        decodeBody(msg.postcopyEnter, frame.body);
        this.phase.to('postcopy-switchover');
        this.postcopy = new PostcopyReceiver(this.memory, this.clock, (region, page) => {
          // While the connection is down the request is remembered and sent again on recovery.
          if (!this.transport.closed)
            this.transport.write(encodeFrame(MessageType.PAGE_REQUEST, msg.pageRequest, { region, page, count: 1 }));
        });
        this.decoder.sink = this.postcopy;
        return;
      case MessageType.POSTCOPY_MISSING: {
        this.expectPhase(frame, 'postcopy-switchover');
        const m = decodeBody(msg.postcopyMissing, frame.body);
        const region = this.memory.regions[m.region];
        if (!region || m.firstPage + m.pageCount > region.pageCount) {
          throw new ProtocolError(ErrorCode.PAGE_OUT_OF_RANGE, `POSTCOPY_MISSING past the end of region ${m.region}`);
        }
        this.postcopyMissing += this.postcopy!.markMissing(m.region, m.firstPage, DirtyBitmap.fromRuns(m.pageCount, m.runs));
        return;
      }
      case MessageType.DEVICE_STATE:
        this.expectPhase(frame, 'switchover', 'postcopy-switchover');
        this.onDeviceState(decodeBody(msg.deviceState, frame.body));
        if (this.postcopy && this.deviceStateFill === this.deviceState!.byteLength) {
          this.busy = true;
          void this.postcopyReady();
        }
        return;
      case MessageType.COMPLETE:
        if (this.postcopy) {
          this.expectPhase(frame, 'postcopy');
          this.busy = true;
          void this.postcopyVerify(decodeBody(msg.complete, frame.body));
          return;
        }
        this.expectPhase(frame, 'switchover');
        this.busy = true;
        {
          const complete = decodeBody(msg.complete, frame.body);
          // With several channels, verify only once every round's pages are here.
          if (this.pendingRounds.size > 0) this.pendingComplete = complete;
          else void this.verify(complete);
        }
        return;
      case MessageType.COMMIT:
        this.expectPhase(frame, 'ready');
        decodeBody(msg.empty, frame.body);
        this.busy = true;
        void this.resume();
        return;
      case MessageType.ABORT: {
        const report = decodeBody(msg.errorReport, frame.body);
        this.fail(new MigrationError(ErrorCode.ABORTED, `source aborted the migration: ${report.code}: ${report.message}`), false);
        return;
      }
      default:
        throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `a source does not send ${messageName(frame.type)}`);
    }
  }

  private onDeviceState(chunk: msg.DeviceStateChunk): void {
    const limit = this.o.maxDeviceStateBytes ?? MAX_DEVICE_STATE_BYTES;
    if (chunk.totalBytes > limit) {
      throw new ProtocolError(ErrorCode.FRAME_TOO_LARGE, `device state of ${chunk.totalBytes} bytes exceeds the limit of ${limit}`);
    }
    if (!this.deviceState) this.deviceState = new Uint8Array(chunk.totalBytes);
    if (chunk.totalBytes !== this.deviceState.byteLength || chunk.offset !== this.deviceStateFill) {
      throw new ProtocolError(
        ErrorCode.FRAME_MALFORMED,
        `device state chunk at ${chunk.offset} of ${chunk.totalBytes}, expected ${this.deviceStateFill} of ${this.deviceState.byteLength}`,
      );
    }
    this.deviceState.set(chunk.data, chunk.offset);
    this.deviceStateFill += chunk.data.byteLength;
  }

  private async verify(complete: msg.Complete): Promise<void> {
    const start = this.clock.nowMs();
    try {
      this.phase.to('verifying');
      if (!this.deviceState || this.deviceStateFill !== this.deviceState.byteLength) {
        throw new ProtocolError(ErrorCode.FRAME_MALFORMED, 'COMPLETE arrived before the whole device state');
      }
      if (complete.totalPages !== this.memory.totalPages) {
        throw new ProtocolError(
          ErrorCode.FRAME_MALFORMED,
          `COMPLETE counts ${complete.totalPages} pages, the guest has ${this.memory.totalPages}`,
        );
      }
      // Every page was checked against its checksum as it arrived and the table holds the
      // hash of what was written, so the table's digest is the digest of this memory.
      this.digest = this.decoder.digest();
      if (this.digest !== complete.digest) {
        throw new MigrationError(
          ErrorCode.DIGEST_MISMATCH,
          `memory digest ${toHex(this.digest)} differs from the source's ${toHex(complete.digest)}`,
        );
      }
      await this.loadAndSendReady(start, this.digest);
    } catch (err) {
      this.fail(toFerryError(err, ErrorCode.CONTROL_PLANE_FAILED), true);
    }
  }

  /** Has the control plane load the device state, then answers READY: the source may commit. */
  private async loadAndSendReady(start: number, digest: bigint): Promise<void> {
    try {
      await this.o.controlPlane.loadDeviceState(this.deviceState!, this.memory);
    } catch (err) {
      throw new MigrationError(ErrorCode.CONTROL_PLANE_FAILED, `loadDeviceState() failed: ${(err as Error).message}`, { cause: err });
    }
    this.verifyMs = this.clock.nowMs() - start;
    if (this.phase.is('failed')) return;
    this.phase.to('ready');
    this.busy = false;
    this.transport.write(encodeFrame(MessageType.READY, msg.ready, { digest }));
  }

  /** Post-copy: the device state is here; load it and tell the source we can take the guest. */
  private async postcopyReady(): Promise<void> {
    const start = this.clock.nowMs();
    try {
      this.phase.to('verifying');
      // Before READY: a refusal here still leaves the guest running on the source.
      if (this.o.postcopyFaults === 'userfaultfd') this.postcopy!.useUserfaultfd();
      // No digest yet: pages are still missing. It is checked when the last one has arrived.
      await this.loadAndSendReady(start, 0n);
    } catch (err) {
      this.fail(toFerryError(err, ErrorCode.CONTROL_PLANE_FAILED), true);
    }
  }

  /** Post-copy: the source says every page was sent; check that and the digest, then we are done. */
  private async postcopyVerify(complete: msg.Complete): Promise<void> {
    try {
      if (complete.totalPages !== this.memory.totalPages) {
        throw new ProtocolError(
          ErrorCode.FRAME_MALFORMED,
          `COMPLETE counts ${complete.totalPages} pages, the guest has ${this.memory.totalPages}`,
        );
      }
      const left = this.postcopy!.missingPages;
      if (left > 0) throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `COMPLETE arrived with ${left} pages still missing`);
      this.digest = this.decoder.digest();
      if (this.digest !== complete.digest) {
        throw new MigrationError(
          ErrorCode.DIGEST_MISMATCH,
          `memory digest ${toHex(this.digest)} (pages as received) differs from the source's ${toHex(complete.digest)}`,
        );
      }
      this.transport.write(encodeFrame(MessageType.POSTCOPY_DONE, msg.postcopyDone, { digest: this.digest }));
      this.phase.to('resumed');
      this.postcopy!.close();
      this.postcopyComplete.resolve();
      await this.transport.end().catch(() => {});
      const stats = this.postcopy!.stats();
      this.done({
        ...this.resultBase(),
        postcopy: {
          ...stats,
          missingPages: this.postcopyMissing,
          durationMs: this.clock.nowMs() - this.postcopyStartMs,
          recoveries: this.recoveries,
        },
      });
    } catch (err) {
      this.fail(toFerryError(err, ErrorCode.FRAME_MALFORMED), true);
    }
  }

  private resultBase(): IncomingMigration {
    return {
      guestId: this.hello.guestId,
      sessionId: Buffer.from(this.hello.sessionId).toString('hex'),
      memory: this.memory,
      deviceState: this.deviceState ?? new Uint8Array(0),
      digest: toHex(this.digest),
      pagesReceived: this.decoder.pagesApplied,
      bytesReceived: this.transport.bytesRead,
      rounds: this.rounds,
      recoveries: this.recoveries,
      channels: 1 + this.channels.length,
    };
  }

  private async resume(): Promise<void> {
    // COMMIT received: the guest is ours now, whatever happens to the connection.
    this.phase.to('resuming');
    const start = this.clock.nowMs();
    const access = this.postcopy?.access(this.postcopyComplete.promise);
    this.postcopyComplete.promise.catch(() => {});
    // In post-copy, pages keep arriving while the hook runs (the guest may already wait for some).
    if (this.postcopy) this.busy = false;
    this.postcopyStartMs = start;
    try {
      await this.o.controlPlane.resume(this.memory, this.deviceState ?? new Uint8Array(0), access);
    } catch (err) {
      // The source has released the guest; nobody else can run it. Report loudly, keep memory.
      const error = new MigrationError(ErrorCode.CONTROL_PLANE_FAILED, `resume() failed after commit: ${(err as Error).message}`, {
        cause: err,
      });
      this.phase.to('failed');
      this.done(error);
      return;
    }
    const resumeMs = this.clock.nowMs() - start;
    if (this.phase.is('failed')) return;
    if (this.postcopy) {
      this.phase.to('postcopy');
      this.busy = false;
      this.transport.write(
        encodeFrame(MessageType.RESUMED, msg.resumed, { resumeMicros: resumeMs * 1000, verifyMicros: this.verifyMs * 1000 }),
      );
      this.o.onEvent?.({ type: 'resumed', verifyMs: this.verifyMs, resumeMs });
      return;
    }
    this.phase.to('resumed');
    try {
      this.transport.write(
        encodeFrame(MessageType.RESUMED, msg.resumed, { resumeMicros: resumeMs * 1000, verifyMicros: this.verifyMs * 1000 }),
      );
      await this.transport.end();
    } catch {
      // The source learns the outcome from its control plane if the RESUMED is lost.
    }
    this.o.onEvent?.({ type: 'resumed', verifyMs: this.verifyMs, resumeMs });
    this.done(this.resultBase());
  }

  private expectPhase(frame: Frame, ...phases: DestinationPhase[]): void {
    if (!this.phase.is(...phases)) {
      throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `${messageName(frame.type)} is not allowed in phase ${this.phase.state}`);
    }
  }

  private fail(error: FerryError, tellSource: boolean): void {
    if (this.postcopy && this.phase.is('resuming', 'postcopy')) {
      // The guest runs here (or is starting) with pages only the source holds: keep everything.
      this.phase.to('failed');
      const interrupted = new MigrationError(
        ErrorCode.POSTCOPY_INTERRUPTED,
        `post-copy interrupted (${error.message}): the guest runs here without ${this.postcopy.missingPages} pages the source still holds; nothing was discarded`,
        { cause: error },
      );
      this.transport.destroy(interrupted);
      this.postcopyComplete.reject(interrupted);
      this.done(interrupted);
      return;
    }
    if (this.phase.is('failed', 'resuming', 'resumed')) return;
    this.phase.to('failed');
    this.postcopy?.close(); // before COMMIT: the guest never ran here
    for (const c of this.channels) c.destroy(error);
    if (tellSource && !this.transport.closed) {
      try {
        this.transport.write(encodeFrame(MessageType.FAILED, msg.errorReport, { code: error.code, message: error.message }));
        void this.transport.end();
      } catch {
        // Already closed.
      }
    }
    setTimeout(() => this.transport.destroy(error), 1000).unref();
    Promise.resolve(this.o.controlPlane.discard?.(error)).catch(() => {});
    this.done(error);
  }
}
