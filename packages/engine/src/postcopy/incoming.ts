/** Post-copy on the destination: entry, the map of missing pages, READY without a digest, and the end. */
import { ErrorCode, MigrationError, ProtocolError, toFerryError } from '../errors.ts';
import { Feature } from '../protocol/constants.ts';
import type { Frame } from '../protocol/frame.ts';
import type * as msg from '../protocol/messages.ts';
import { decode, encode, Msg } from '../protocol/registry.ts';
import type { DestinationContext } from '../session/destination-context.ts';
import type { DestinationHandler, DestinationState } from '../session/destination-table.ts';
import { checkPageCount, type IncomingSwitchover } from '../session/incoming-switchover.ts';
import type { Dispatcher } from '../session/message-table.ts';
import { MissingPageMap } from '../session/missing-map.ts';
import { toHex } from '../util/bytes.ts';
import { PostcopyReceiver } from './receiver.ts';

/**
 * The destination's post-copy: POSTCOPY_ENTER switches the decoder's sink to a receiver that
 * tracks presence and turns a guest's wait into a PAGE_REQUEST; POSTCOPY_MISSING marks what is
 * not here; with the whole device state READY goes without a digest (pages are missing); after
 * COMMIT pages keep arriving, and COMPLETE checks the last of them and the digest.
 */
export class IncomingPostcopy {
  private readonly ctx: DestinationContext;
  private readonly switchover: IncomingSwitchover;
  private receiver: PostcopyReceiver | undefined;
  private missingAtEntry = 0;

  constructor(ctx: DestinationContext, switchover: IncomingSwitchover) {
    this.ctx = ctx;
    this.switchover = switchover;
  }

  /** The messages this phase takes: POSTCOPY_ENTER, POSTCOPY_MISSING, its DEVICE_STATE, and its COMPLETE (also asked again). */
  register(d: Dispatcher<DestinationState, DestinationHandler>): void {
    const { ctx } = this;
    d.on('postcopyEnter', (f) => this.enter(f))
      .on('postcopyMissing', (f) => this.missing(f))
      .on('postcopyDeviceState', (f) => {
        if (ctx.deviceState.add(decode(Msg.DEVICE_STATE, f))) void this.ready();
      })
      .on('postcopyComplete', (f) => (ctx.phase.is('resumed') ? this.completeAgain(f) : this.complete(f)));
  }

  /** POSTCOPY_ENTER: only from a source that offered post-copy in its HELLO. */
  enter(frame: Frame): void {
    const { ctx } = this;
    if ((ctx.terms.features & Feature.POSTCOPY) === 0) {
      throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, 'POSTCOPY_ENTER from a source that did not offer post-copy');
    }
    ctx.roundNumbers.postcopyEnter(decode(Msg.POSTCOPY_ENTER, frame).round);
    ctx.phase.to('postcopy-switchover');
    const receiver = new PostcopyReceiver(ctx.memory, ctx.clock, (region, page) => {
      // While the connection is down the request is remembered and sent again on recovery.
      if (!ctx.transport.closed) ctx.transport.write(encode(Msg.PAGE_REQUEST, { region, page, count: 1 }));
    });
    this.receiver = receiver;
    ctx.postcopy = receiver;
    ctx.decoder.sink = receiver;
  }

  /** POSTCOPY_MISSING: pages the destination lacks, in range. */
  missing(frame: Frame): void {
    const part = MissingPageMap.decode('POSTCOPY_MISSING', frame, this.ctx.memory.layout);
    this.missingAtEntry += this.receiver!.markMissing(part.region, part.firstPage, part.pages);
  }

  /** The device state is whole: load it and tell the source we can take the guest. */
  async ready(): Promise<void> {
    const { ctx } = this;
    const start = ctx.clock.nowMs();
    try {
      ctx.phase.to('verifying');
      // Before READY: a refusal here still leaves the guest running on the source.
      if (ctx.o.postcopyFaults === 'userfaultfd') this.receiver!.useUserfaultfd();
      // No digest yet: pages are still missing. It is checked when the last one has arrived.
      await this.switchover.loadAndSendReady(start, 0n);
    } catch (err) {
      ctx.fail(toFerryError(err, ErrorCode.CONTROL_PLANE_FAILED), true);
    }
  }

  /**
   * COMPLETE: the source says every page was sent; check that and the digest, then we are done.
   * A COMPLETE that does not decode throws here, to be recovered like any bad frame.
   */
  complete(frame: Frame): void {
    const complete = decode(Msg.COMPLETE, frame);
    this.ctx.roundNumbers.postcopyComplete(complete.finalRound);
    void this.finish(complete);
  }

  /**
   * COMPLETE again, after POSTCOPY_DONE, on a reconnection: the source never got the answer.
   * The memory was verified already; the same digest gets the same answer.
   */
  completeAgain(frame: Frame): void {
    const { ctx } = this;
    const complete = decode(Msg.COMPLETE, frame);
    if (ctx.sourceDigestGiven(complete.digest) && complete.digest !== ctx.digest) {
      throw new MigrationError(
        ErrorCode.DIGEST_MISMATCH,
        `COMPLETE again with digest ${toHex(complete.digest)}, this guest's is ${toHex(ctx.digest)}`,
      );
    }
    ctx.transport.write(encode(Msg.POSTCOPY_DONE, { digest: ctx.digest }));
  }

  private async finish(complete: msg.Complete): Promise<void> {
    const { ctx } = this;
    const receiver = this.receiver!;
    try {
      checkPageCount(complete, ctx.memory.totalPages);
      const left = receiver.missingPages;
      if (left > 0) throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `COMPLETE arrived with ${left} pages still missing`);
      ctx.digest = ctx.decoder.digest();
      if (ctx.sourceDigestGiven(complete.digest) && ctx.digest !== complete.digest) {
        throw new MigrationError(
          ErrorCode.DIGEST_MISMATCH,
          `memory digest ${toHex(ctx.digest)} (pages as received) differs from the source's ${toHex(complete.digest)}`,
        );
      }
      ctx.transport.write(encode(Msg.POSTCOPY_DONE, { digest: ctx.digest }));
      ctx.phase.to('resumed');
      receiver.close();
      ctx.postcopyComplete.resolve();
      // The source closes once it has read POSTCOPY_DONE (a close of ours first could overtake it).
      ctx.done({
        ...ctx.result(),
        postcopy: {
          ...receiver.stats(),
          missingPages: this.missingAtEntry,
          durationMs: ctx.clock.nowMs() - ctx.resumedAtMs,
          recoveries: ctx.recoveries,
        },
      });
    } catch (err) {
      ctx.fail(toFerryError(err, ErrorCode.FRAME_MALFORMED), true);
    }
  }
}
