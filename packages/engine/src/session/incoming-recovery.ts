import { ErrorCode, type FerryError, MigrationError } from '../errors.ts';
import { Feature } from '../protocol/constants.ts';
import { encode, Msg } from '../protocol/registry.ts';
import type { TcpTransport } from '../transport/tcp.ts';
import type { DestinationContext } from './destination-context.ts';
import { accept } from './handshake-gate.ts';
import { MissingPageMap } from './missing-map.ts';

/** How long a destination that completed a post-copy keeps answering its source after the connection closed. */
export const POSTCOPY_DONE_GRACE_MS = 3_000;

/**
 * The destination's side of a broken connection: holds on for `recoveryTimeoutMs` (in
 * post-copy because the guest's state is split between the hosts, in pre-copy because the
 * source asked for it with RESUMABLE), takes the same session back on an authenticated
 * RECOVER, and tells the source which pages it still lacks.
 */
export class IncomingRecovery {
  private readonly ctx: DestinationContext;
  private timer: NodeJS.Timeout | undefined;

  constructor(ctx: DestinationContext) {
    this.ctx = ctx;
  }

  /**
   * The control connection closed with `cause`: wait for the source if the phase allows it
   * (true), else the caller fails the migration (false).
   */
  onBreak(cause: FerryError): boolean {
    const { ctx } = this;
    this.cancel();
    if (ctx.postcopy && ctx.phase.is('resuming', 'postcopy')) {
      this.wait('postcopy', cause);
      return true;
    }
    // READY was sent, COMMIT may be on its way: only the source knows. Wait for it to come back
    // and ask, so that it learns the guest never ran here (FERRY_NOT_COMMITTED) instead of
    // reporting an unknown outcome.
    if (ctx.phase.is('ready')) {
      this.wait(ctx.postcopy ? 'postcopy' : 'precopy', cause);
      return true;
    }
    if (ctx.phase.is('receiving') && (ctx.terms.features & Feature.RESUMABLE) !== 0) {
      this.wait('precopy', cause);
      return true;
    }
    return false;
  }

  /** Whether a RECOVER handshake for `sessionId` belongs to this session and may take over. */
  canRecover(sessionId: Uint8Array): boolean {
    const { ctx } = this;
    if (Buffer.compare(Buffer.from(sessionId), Buffer.from(ctx.hello.sessionId)) !== 0) return false;
    // Waiting already, or in a state that recovers a break this side has not noticed yet (the
    // source gave up on a stalled connection that still looks open here: it supersedes it).
    const recoverable =
      this.timer !== undefined ||
      ctx.phase.is('ready') ||
      (ctx.postcopy !== undefined && ctx.phase.is('resuming', 'postcopy', 'resumed')) ||
      (ctx.phase.is('receiving') && (ctx.terms.features & Feature.RESUMABLE) !== 0);
    // Pre-copy over data channels is not recovered (yet): its rounds span connections. Post-copy
    // runs on the control connection alone, so it is.
    return recoverable && (ctx.postcopy !== undefined || ctx.channels.length === 0 || ctx.phase.is('ready'));
  }

  /**
   * The source is back (authenticated, same session): continue on `transport`. Tells it which
   * pages are still missing here (pages in flight when the connection broke may be lost) and
   * asks again for the pages guests are waiting for.
   */
  takeOver(transport: TcpTransport, attach: (transport: TcpTransport) => void): void {
    const { ctx } = this;
    this.cancel();
    const old = ctx.transport;
    ctx.transport = transport;
    // A connection the source gave up on (it may still look open here) is superseded.
    if (!old.closed) old.destroy();
    ctx.recoveries++;
    transport.setMaxBodyBytes(ctx.terms.maxFrameBodyBytes);
    transport.setIdleTimeout(ctx.o.idleTimeoutMs ?? 30_000);
    attach(transport);
    void accept(transport, ctx.terms).catch(() => {});
    const receiver = ctx.postcopy;
    // Post-copy: the pages not here. Pre-copy: the pages never received (the source adds those
    // of rounds we had not acknowledged, which may have been lost with the connection).
    const held = receiver ? receiver.presence.regions : ctx.decoder.received.map((b) => b.words);
    const map = MissingPageMap.encode('RECOVER_MISSING', MissingPageMap.complement(ctx.memory.layout, held));
    for (const frame of map.frames) transport.write(frame);
    transport.write(encode(Msg.RECOVER_END, { missingPages: map.count }));
    receiver?.resendRequests();
    ctx.emit({ type: 'recovered', phase: receiver ? 'postcopy' : 'precopy', missingPages: map.count });
  }

  /**
   * Post-copy is complete here and its connection closed: if POSTCOPY_DONE never reached the
   * source, it reconnects at once and asks again (COMPLETE once more, answered from the digest
   * already verified). Waits `POSTCOPY_DONE_GRACE_MS` for that, then `done`.
   */
  lingerAfterDone(done: () => void): void {
    this.cancel();
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        done();
      },
      Math.min(this.ctx.o.recoveryTimeoutMs ?? 30_000, POSTCOPY_DONE_GRACE_MS),
    );
    this.timer.unref();
  }

  /** Stops waiting (recovered, or the migration ended). */
  cancel(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private wait(phase: 'precopy' | 'postcopy', cause: FerryError): void {
    const { ctx } = this;
    const timeoutMs = ctx.o.recoveryTimeoutMs ?? 30_000;
    ctx.emit({ type: 'interrupted', phase, reason: cause.message, recoveryTimeoutMs: timeoutMs });
    this.timer = setTimeout(() => {
      this.timer = undefined;
      ctx.fail(new MigrationError(ErrorCode.TIMEOUT, `no recovery within ${timeoutMs} ms (${cause.message})`, { cause }), false);
    }, timeoutMs);
    this.timer.unref();
  }
}
