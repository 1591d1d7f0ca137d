import { ErrorCode, MigrationError, ProtocolError, toFerryError } from '../errors.ts';
import type * as msg from '../protocol/messages.ts';
import { decode, encode, Msg } from '../protocol/registry.ts';
import { toHex } from '../util/bytes.ts';
import type { DestinationContext } from './destination-context.ts';
import type { DestinationHandler, DestinationState } from './destination-table.ts';
import type { Dispatcher } from './message-table.ts';

/**
 * The destination's switchover, after pre-copy's final round or post-copy's entry: checks what
 * arrived against COMPLETE (device state whole, page count, memory digest), has the control
 * plane load the device state, answers READY, and on COMMIT resumes the guest and answers RESUMED.
 */
export class IncomingSwitchover {
  private readonly ctx: DestinationContext;

  constructor(ctx: DestinationContext) {
    this.ctx = ctx;
  }

  /**
   * The messages this phase takes: DEVICE_STATE, COMPLETE (verified once `settled` says every
   * round's pages are here), COMMIT, and ABORT in any state that allows it.
   */
  register(d: Dispatcher<DestinationState, DestinationHandler>, settled: (verify: () => void) => void): void {
    const { ctx } = this;
    d.on('deviceState', (f) => void ctx.deviceState.add(decode(Msg.DEVICE_STATE, f)))
      .on('complete', (f) => {
        const complete = decode(Msg.COMPLETE, f);
        ctx.roundNumbers.complete(complete.finalRound);
        ctx.phase.to('verifying');
        // With several channels, verify only once every round's pages are here.
        settled(() => void this.verify(complete));
      })
      .on('commit', (f) => {
        decode(Msg.COMMIT, f);
        void this.resume();
      })
      .on('abort', (f) => {
        const report = decode(Msg.ABORT, f);
        ctx.fail(new MigrationError(ErrorCode.ABORTED, `source aborted the migration: ${report.code}: ${report.message}`), false);
      });
  }

  /** Pre-copy's COMPLETE: every page and the device state are here; verify, load, READY. */
  async verify(complete: msg.Complete): Promise<void> {
    const { ctx } = this;
    const start = ctx.clock.nowMs();
    try {
      if (!ctx.deviceState.complete) throw new ProtocolError(ErrorCode.FRAME_MALFORMED, 'COMPLETE arrived before the whole device state');
      checkPageCount(complete, ctx.memory.totalPages);
      // Every page was checked against its checksum as it arrived and the table holds the
      // hash of what was written, so the table's digest is the digest of this memory.
      ctx.digest = ctx.decoder.digest();
      if (ctx.sourceDigestGiven(complete.digest) && ctx.digest !== complete.digest) {
        throw new MigrationError(
          ErrorCode.DIGEST_MISMATCH,
          `memory digest ${toHex(ctx.digest)} differs from the source's ${toHex(complete.digest)}`,
        );
      }
      await this.loadAndSendReady(start, ctx.digest);
    } catch (err) {
      ctx.fail(toFerryError(err, ErrorCode.CONTROL_PLANE_FAILED), true);
    }
  }

  /** Has the control plane load the device state, then answers READY: the source may commit. */
  async loadAndSendReady(start: number, digest: bigint): Promise<void> {
    const { ctx } = this;
    // The guest prepared alongside pre-copy (it fails the migration itself if it threw).
    await ctx.prepared;
    try {
      await ctx.o.controlPlane.loadDeviceState(ctx.deviceState.bytes, ctx.memory);
    } catch (err) {
      throw new MigrationError(ErrorCode.CONTROL_PLANE_FAILED, `loadDeviceState() failed: ${(err as Error).message}`, { cause: err });
    }
    ctx.verifyMs = ctx.clock.nowMs() - start;
    if (ctx.phase.is('failed')) return;
    ctx.phase.to('ready');
    ctx.transport.write(encode(Msg.READY, { digest }));
  }

  /** COMMIT: the guest is ours now, whatever happens to the connection. Resume it and say so. */
  async resume(): Promise<void> {
    const { ctx } = this;
    ctx.phase.to('resuming');
    const start = ctx.clock.nowMs();
    ctx.resumedAtMs = start;
    const postcopy = ctx.postcopy;
    const access = postcopy?.access(ctx.postcopyComplete.promise);
    ctx.postcopyComplete.promise.catch(() => {});
    try {
      await ctx.o.controlPlane.resume(ctx.memory, ctx.deviceState.bytes, access);
    } catch (err) {
      // The source has released the guest; nobody else can run it. Report loudly, keep memory.
      const error = new MigrationError(ErrorCode.CONTROL_PLANE_FAILED, `resume() failed after commit: ${(err as Error).message}`, {
        cause: err,
      });
      ctx.phase.to('failed');
      ctx.done(error);
      return;
    }
    const resumeMs = ctx.clock.nowMs() - start;
    if (ctx.phase.is('failed')) return;
    const resumed = encode(Msg.RESUMED, { resumeMicros: resumeMs * 1000, verifyMicros: ctx.verifyMs * 1000 });
    if (postcopy) {
      // Pages keep arriving: post-copy ends when the last one has (IncomingPostcopy.complete).
      ctx.phase.to('postcopy');
      ctx.transport.write(resumed);
      ctx.emit({ type: 'resumed', verifyMs: ctx.verifyMs, resumeMs });
      return;
    }
    ctx.phase.to('resumed');
    try {
      // The source closes once it has read RESUMED (a close of ours first could overtake it).
      ctx.transport.write(resumed);
    } catch {
      // The source learns the outcome from its control plane if the RESUMED is lost.
    }
    ctx.emit({ type: 'resumed', verifyMs: ctx.verifyMs, resumeMs });
    ctx.done(ctx.result());
  }
}

/** COMPLETE's `totalPages` must be the guest's page count. */
export function checkPageCount(complete: msg.Complete, totalPages: number): void {
  if (complete.totalPages !== totalPages) {
    throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `COMPLETE counts ${complete.totalPages} pages, the guest has ${totalPages}`);
  }
}
