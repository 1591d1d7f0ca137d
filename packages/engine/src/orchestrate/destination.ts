/** `MigrationDestination`: the listener, its door (greeting, admission) and the one migration it takes. */
import net from 'node:net';
import tls from 'node:tls';
import { loadKernels, nativeStatus } from '../accel/index.ts';
import type { Kernels } from '../accel/kernels.ts';
import { BatchDecoder } from '../codec/batch-decoder.ts';
import { ErrorCode, type FerryError, HandshakeError, MigrationError, toFerryError, UsageError } from '../errors.ts';
import { GuestMemory } from '../memory/guest-memory.ts';
import { layoutMismatch, type MemoryLayout } from '../memory/layout.ts';
import { Intent } from '../protocol/constants.ts';
import { rehearseSwitchover } from '../session/rehearsal.ts';
import { MAX_HELLO_BODY_BYTES } from '../protocol/limits.ts';
import type * as msg from '../protocol/messages.ts';
import type { IncomingGuest } from '../session/control-plane.ts';
import { DestinationContext } from '../session/destination-context.ts';
import { errorReport } from '../session/error-reports.ts';
import type { DestinationEvent } from '../session/events.ts';
import { accept, greet, refuse, termsFor } from '../session/handshake-gate.ts';
import type { IncomingMigration, ListenOptions } from '../session/listen-options.ts';
import { checkListenOptions } from '../session/option-checks.ts';
import { respondToProbe } from '../session/probe-responder.ts';
import { hostPort } from '../transport/address.ts';
import { TcpTransport } from '../transport/tcp.ts';
import { deferred } from '../util/deferred.ts';
import { admission } from './admission.ts';
import { IncomingSession } from './incoming-session.ts';
import { loggable } from '../session/loggable.ts';
import { logger } from '../util/log.ts';

const log = logger('session');

export type { IncomingMigration, ListenOptions } from '../session/listen-options.ts';

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
  /** The accepted migration, for data channels and a RECOVER to find. */
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
    // Options first: nothing is bound or loaded for a call that cannot run.
    checkListenOptions(options);
    const d = new MigrationDestination(options);
    d.kernels = options.kernels ?? (await loadKernels());
    if (d.kernels.name === 'js' && !options.kernels) {
      d.emit({ type: 'kernels-fallback', reason: nativeStatus().reason ?? 'the native addon did not load' });
    }
    const host = options.host ?? '127.0.0.1';
    const port = options.port ?? 0;
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => reject(listenError(err, host, port));
      d.server.once('error', onError);
      d.server.listen(port, host, () => {
        d.server.off('error', onError);
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

  /** One connection: greeted, then a data channel, a reconnection, a probe or the migration. */
  private async handle(socket: net.Socket): Promise<void> {
    const o = this.o;
    const transport = new TcpTransport(socket, MAX_HELLO_BODY_BYTES);
    const remote = transport.remoteAddress;
    // A source that sent ABORT is gone: it gets no answer.
    transport.setLastWords((err) => (err.code === ErrorCode.ABORTED ? undefined : errorReport('HELLO_REJECT', err)));
    this.emit({ type: 'connection', remote });
    transport.setIdleTimeout(o.handshakeTimeoutMs ?? 10_000);
    if (o.frameDeadlineMs !== undefined) transport.setFrameDeadline(o.frameDeadlineMs);
    let hello: msg.Hello;
    try {
      hello = await greet(transport, o);
    } catch (err) {
      const error = toFerryError(err, ErrorCode.CONNECTION_LOST);
      // A stranger gets one typed refusal and the door; nothing was allocated for it.
      if (error.code === ErrorCode.ABORTED) transport.destroy(error);
      else if (!transport.closed) await refuse(transport, error.code, error.message);
      this.emit({ type: 'rejected', remote, code: error.code, reason: error.message });
      return;
    }
    const layout: MemoryLayout = { pageSize: hello.pageSize, regions: hello.regions };
    if (hello.intent === Intent.CHANNEL) return this.joinChannel(transport, hello, remote);
    if (hello.intent === Intent.RECOVER) return this.takeBack(transport, hello, layout, remote);

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
    try {
      await this.admit(transport, hello, guest, layout);
    } catch (err) {
      // The source left (or sent ABORT) before its migration began: nothing runs here, so the
      // slot is free again and the destination goes on listening.
      const error = toFerryError(err, ErrorCode.CONNECTION_LOST);
      if (migrating && !this.session) this.active = false;
      transport.destroy(error);
      this.emit({ type: 'rejected', remote, code: error.code, reason: error.message });
    }
  }

  /** Admission, then a probe's answer or the migration's accept. */
  private async admit(transport: TcpTransport, hello: msg.Hello, guest: IncomingGuest, layout: MemoryLayout): Promise<void> {
    const o = this.o;
    const { remote } = guest;
    const migrating = hello.intent === Intent.MIGRATE;
    const refusal = await admission(o, hello, guest);
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
      await accept(transport, termsFor(o, hello));
      this.emit({ type: 'probe', remote, accepted: true });
      respondToProbe(transport, this.kernels!);
      return;
    }
    await this.accept(transport, hello, layout);
  }

  /** The accepted migration: memory from the control plane, then the session takes the connection. */
  private async accept(transport: TcpTransport, hello: msg.Hello, layout: MemoryLayout): Promise<void> {
    const o = this.o;
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
    const terms = termsFor(o, hello);
    transport.setMaxBodyBytes(terms.maxFrameBodyBytes);
    transport.setIdleTimeout(o.idleTimeoutMs ?? 30_000);
    // The handover's messages and the missing-page map, decoded once before they matter, and
    // before the accept: a pure post-copy source pauses right after it.
    rehearseSwitchover(layout);
    try {
      if (transport.closed) throw new MigrationError(ErrorCode.CONNECTION_LOST, 'the source left before it was accepted');
      await accept(transport, terms);
    } catch (err) {
      await Promise.resolve(o.controlPlane.discard?.(toFerryError(err, ErrorCode.CONNECTION_LOST))).catch(() => {});
      throw err;
    }
    const decoder = new BatchDecoder(memory, this.kernels!, !o.controlPlane.allocate);
    decoder.allowedEncodings = terms.encodings;
    const ctx = new DestinationContext({ options: o, transport, hello, terms, memory, decoder, done: (result) => this.finish(result) });
    this.session = new IncomingSession(ctx);
    this.session.start();
  }

  /** An extra data channel of the accepted migration (same session id). */
  private async joinChannel(transport: TcpTransport, hello: msg.Hello, remote: string): Promise<void> {
    if (!this.session?.canAddChannel(hello.sessionId)) {
      await refuse(transport, ErrorCode.REJECTED, 'no migration with this id is taking data channels here');
      this.emit({ type: 'rejected', remote, code: ErrorCode.REJECTED, reason: 'no session for this channel' });
      return;
    }
    this.session.addChannel(transport);
  }

  /** Only the interrupted session itself, authenticated like any source, may take it over. */
  private async takeBack(transport: TcpTransport, hello: msg.Hello, layout: MemoryLayout, remote: string): Promise<void> {
    const session = this.session;
    const ours = session?.ctx.hello;
    if (!session?.canRecover(hello.sessionId) || !ours || layoutMismatch(layout, { pageSize: ours.pageSize, regions: ours.regions })) {
      await refuse(transport, ErrorCode.REJECTED, 'no interrupted session with this id is waiting here');
      this.emit({ type: 'rejected', remote, code: ErrorCode.REJECTED, reason: 'nothing to recover' });
      return;
    }
    await session.recover(transport);
  }

  private finish(result: IncomingMigration | FerryError): void {
    if (result instanceof Error) {
      this.emit({ type: 'failed', error: result });
      this.outcome.reject(result);
    } else {
      this.outcome.resolve(result);
    }
    const session = this.session;
    if (result instanceof Error || !result.postcopy || !session) {
      this.server.close();
      return;
    }
    // A completed post-copy keeps answering its own source a little while (a lost
    // POSTCOPY_DONE is asked for again); the listener no longer holds the process up.
    this.server.unref();
    void session.lingered.promise.then(() => this.server.close());
  }

  private emit(event: DestinationEvent): void {
    if (log.enabled) log('destination %s %o', event.type, loggable(event));
    try {
      this.o.onEvent?.(event);
    } catch {
      // A listener's bug must not fail the migration.
    }
  }
}

/**
 * Why the listener could not bind, as a FerryError: the address taken or not this host's is
 * FERRY_ADDRESS_IN_USE, anything else (a privileged port, say) FERRY_INVALID_ARGUMENT.
 */
function listenError(err: NodeJS.ErrnoException, host: string, port: number): UsageError {
  const where = hostPort(host, port);
  if (err.code === 'EADDRINUSE') {
    return new UsageError(ErrorCode.ADDRESS_IN_USE, `cannot listen on ${where}: the address is in use (${err.code})`, { cause: err });
  }
  if (err.code === 'EADDRNOTAVAIL') {
    return new UsageError(ErrorCode.ADDRESS_IN_USE, `cannot listen on ${where}: the address is not this host's (${err.code})`, {
      cause: err,
    });
  }
  return new UsageError(ErrorCode.INVALID_ARGUMENT, `cannot listen on ${where}: ${err.message}`, { cause: err });
}
