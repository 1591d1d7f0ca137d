/** One accepted migration on the destination: composes its phases, which take their messages through DESTINATION_TABLE. */
import { ErrorCode, type FerryError, HandshakeError, IntegrityError, MigrationError, ProtocolError, toFerryError } from '../errors.ts';
import { Feature } from '../protocol/constants.ts';
import { IncomingPostcopy } from '../postcopy/incoming.ts';
import { RoundReceiver } from '../precopy/receiving.ts';
import type { DestinationContext } from '../session/destination-context.ts';
import { DESTINATION_TABLE, type DestinationHandler, type DestinationState } from '../session/destination-table.ts';
import { errorReport } from '../session/error-reports.ts';
import { IncomingRecovery } from '../session/incoming-recovery.ts';
import { IncomingSwitchover } from '../session/incoming-switchover.ts';
import { refuse } from '../session/handshake-gate.ts';
import { Dispatcher } from '../session/message-table.ts';
import type { TcpTransport } from '../transport/tcp.ts';
import { type Deferred, deferred } from '../util/deferred.ts';

/**
 * One accepted migration, from HELLO_ACCEPT to RESUMED (or post-copy's last page): composes
 * the destination's phases over one context and routes every frame of the control connection
 * through DESTINATION_TABLE, so a frame not allowed in the current state is a typed error.
 */
export class IncomingSession {
  readonly ctx: DestinationContext;
  private readonly receiving: RoundReceiver;
  private readonly switchover: IncomingSwitchover;
  private readonly postcopy: IncomingPostcopy;
  private readonly recovery: IncomingRecovery;
  private readonly dispatcher: Dispatcher<DestinationState, DestinationHandler>;

  constructor(ctx: DestinationContext) {
    this.ctx = ctx;
    this.receiving = new RoundReceiver(ctx);
    this.switchover = new IncomingSwitchover(ctx);
    this.postcopy = new IncomingPostcopy(ctx, this.switchover);
    this.recovery = new IncomingRecovery(ctx);
    this.dispatcher = new Dispatcher<DestinationState, DestinationHandler>(DESTINATION_TABLE);
    this.receiving.register(this.dispatcher);
    this.switchover.register(this.dispatcher, (verify) => this.receiving.whenSettled(verify));
    this.postcopy.register(this.dispatcher);
    ctx.fail = (error, tellSource) => this.fail(error, tellSource);
  }

  /** Settles once the session needs its listener no more (at once, but after post-copy: see `lingerAfterDone`). */
  readonly lingered: Deferred<void> = deferred<void>();

  start(): void {
    const { ctx } = this;
    ctx.phase.to('receiving');
    this.attach(ctx.transport);
    const prepare = ctx.o.controlPlane.prepare;
    if (!prepare) return;
    ctx.prepared = (async () => {
      try {
        await prepare.call(ctx.o.controlPlane, ctx.memory);
      } catch (err) {
        const error = new MigrationError(ErrorCode.CONTROL_PLANE_FAILED, `prepare() failed: ${(err as Error).message}`, { cause: err });
        if (!ctx.phase.is('failed', 'resumed')) ctx.fail(error, true);
        throw error;
      }
    })();
    ctx.prepared.catch(() => {});
  }

  canAddChannel(sessionId: Uint8Array): boolean {
    return this.receiving.canAddChannel(sessionId);
  }
  addChannel(transport: TcpTransport): void {
    this.receiving.addChannel(transport);
  }
  canRecover(sessionId: Uint8Array): boolean {
    return this.recovery.canRecover(sessionId);
  }
  /**
   * The source is back on `transport`. Before COMMIT (`ready`: it was sent but never arrived)
   * the guest is still the source's: say so (FERRY_NOT_COMMITTED), so that it resumes its guest
   * knowing this one never ran, and discard. Otherwise continue where the connection broke.
   */
  async recover(transport: TcpTransport): Promise<void> {
    const { ctx } = this;
    if (ctx.phase.is('ready')) {
      const error = new HandshakeError(ErrorCode.NOT_COMMITTED, 'COMMIT never arrived here: the guest never ran on this destination');
      this.recovery.cancel();
      await refuse(transport, error.code, error.message);
      this.fail(error, false);
      return;
    }
    this.receiving.restart();
    this.recovery.takeOver(transport, (t) => this.attach(t));
  }

  /** Handlers for one connection; events of a connection that was replaced are ignored. */
  private attach(transport: TcpTransport): void {
    const { ctx } = this;
    // Every frame is consumed before its handler returns (async steps decode their frame
    // first), so spanning PAGES frames can share buffers instead of allocating each.
    transport.reuseFrameBodies();
    // FAILED only before COMMIT, and only where the connection will not be recovered: after
    // COMMIT the guest runs here (the source must never read a FAILED as "not resumed" then), and
    // in a resumable pre-copy a connection that fails on its own (a bad frame) is recovered.
    transport.setLastWords((err) => {
      const recoverable = ctx.phase.is('receiving') && (ctx.terms.features & Feature.RESUMABLE) !== 0;
      return ctx.phase.is('resuming', 'postcopy', 'resumed') || recoverable ? undefined : errorReport('FAILED', err);
    });
    transport.onClose((err) => {
      if (transport !== ctx.transport || ctx.phase.is('failed')) return;
      if (ctx.phase.is('resumed')) {
        // Post-copy's POSTCOPY_DONE may not have reached the source: wait a little for it to ask again.
        if (ctx.postcopy) this.recovery.lingerAfterDone(() => this.lingered.resolve());
        return;
      }
      if (ctx.phase.is('resuming') && !ctx.postcopy) return;
      if (!this.recovery.onBreak(err)) this.fail(err, false);
    });
    transport.onFrame((frame) => {
      if (transport !== ctx.transport || ctx.phase.is('failed')) return;
      try {
        this.dispatcher.dispatch(ctx.phase.state, frame);
      } catch (err) {
        const error = toFerryError(err, ErrorCode.FRAME_MALFORMED);
        // Where the connection is recovered (the guest split between the hosts in post-copy, or
        // a resumable pre-copy), a bad frame is a fault of the connection (a flipped bit, a
        // truncated message): drop it and recover instead of ending the migration.
        const split = ctx.postcopy !== undefined && ctx.phase.is('resuming', 'postcopy');
        const resumable = ctx.phase.is('receiving') && (ctx.terms.features & Feature.RESUMABLE) !== 0;
        if (split || (resumable && (error instanceof ProtocolError || error instanceof IntegrityError))) transport.destroy(error);
        else this.fail(error, true);
      }
    });
  }

  private fail(error: FerryError, tellSource: boolean): void {
    const { ctx } = this;
    this.recovery.cancel();
    if (ctx.postcopy && ctx.phase.is('resuming', 'postcopy')) {
      // The guest runs here (or is starting) with pages only the source holds: keep everything.
      ctx.phase.to('failed');
      const interrupted = new MigrationError(
        ErrorCode.POSTCOPY_INTERRUPTED,
        `post-copy interrupted (${error.message}): the guest runs here without ${ctx.postcopy.missingPages} pages the source still holds; nothing was discarded`,
        { cause: error },
      );
      ctx.transport.destroy(interrupted);
      ctx.postcopyComplete.reject(interrupted);
      ctx.done(interrupted);
      return;
    }
    if (ctx.phase.is('failed', 'resuming', 'resumed')) return;
    ctx.phase.to('failed');
    ctx.postcopy?.close(); // before COMMIT: the guest never ran here
    for (const c of ctx.channels) c.destroy(error);
    if (tellSource && !ctx.transport.closed) {
      try {
        ctx.transport.write(errorReport('FAILED', error));
        void ctx.transport.end();
      } catch {
        // Already closed.
      }
    }
    const transport = ctx.transport;
    setTimeout(() => transport.destroy(error), 1000).unref();
    Promise.resolve(ctx.o.controlPlane.discard?.(error)).catch(() => {});
    ctx.done(error);
  }
}
