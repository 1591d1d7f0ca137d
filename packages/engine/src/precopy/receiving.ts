/** Pre-copy on the destination: pages applied, rounds acknowledged, ECHO answered, data channels joined. */
import { ErrorCode, ProtocolError, toFerryError } from '../errors.ts';
import { ECHO_MIN_VERSION, Feature } from '../protocol/constants.ts';
import type { Frame } from '../protocol/frame.ts';
import { MAX_DATA_CHANNELS, MAX_ECHOES } from '../protocol/limits.ts';
import { PageBatch } from '../protocol/pages.ts';
import { decode, encode, Msg } from '../protocol/registry.ts';
import { CHANNEL_TABLE, type DestinationHandler, type DestinationState } from '../session/destination-table.ts';
import type { DestinationContext } from '../session/destination-context.ts';
import { accept } from '../session/handshake-gate.ts';
import { type Dispatcher, handlerFor } from '../session/message-table.ts';
import type { TcpTransport } from '../transport/tcp.ts';

/**
 * The destination's pre-copy: applies PAGES (from the control connection and the data
 * channels), acknowledges each round once all its pages are here, answers ECHO, and holds a
 * COMPLETE back until every round announced has arrived on every channel.
 */
export class RoundReceiver {
  private readonly ctx: DestinationContext;
  /** Pages applied since the last ROUND_END, on the control connection alone. */
  private roundPages = 0;
  private echoes = 0;
  /** With data channels: pages counted per round, and rounds announced but not all here. */
  private readonly pagesByRound = new Map<number, number>();
  private readonly pendingRounds = new Map<number, number>();
  /** With data channels: rounds acknowledged, which no page may join any more. */
  private readonly acknowledged = new Set<number>();
  private pendingVerify: (() => void) | undefined;

  constructor(ctx: DestinationContext) {
    this.ctx = ctx;
  }

  /** The messages this phase takes: PAGES (post-copy's too), ROUND_END, ECHO and SWITCHOVER. */
  register(d: Dispatcher<DestinationState, DestinationHandler>): void {
    d.on('pages', (f) => this.pages(f))
      .on('roundEnd', (f) => this.roundEnd(f))
      .on('echo', (f) => this.echo(f))
      .on('switchover', (f) => {
        this.ctx.roundNumbers.switchover(decode(Msg.SWITCHOVER, f).round);
        this.ctx.phase.to('switchover');
      });
  }

  /** PAGES: decoded, checked and written through the decoder's sink (post-copy's receiver from POSTCOPY_ENTER on). */
  pages(frame: Frame, channel = false): void {
    if (this.ctx.phase.is('resuming') && !this.ctx.postcopy) {
      throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, 'PAGES is not allowed in state resuming outside post-copy');
    }
    const batch = new PageBatch(frame.body, this.ctx.memory.pageSize);
    this.ctx.roundNumbers.pages(batch.round, channel);
    if (this.acknowledged.has(batch.round) && !this.ctx.postcopy) {
      throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `PAGES for round ${batch.round}, which was acknowledged already`);
    }
    this.ctx.decoder.apply(batch);
    this.roundPages += batch.count;
    if (this.ctx.channels.length > 0) {
      this.pagesByRound.set(batch.round, (this.pagesByRound.get(batch.round) ?? 0) + batch.count);
      this.settle();
    }
  }

  /** ROUND_END: acknowledged at once on one connection, or once the round's pages are all here. */
  roundEnd(frame: Frame): void {
    const end = decode(Msg.ROUND_END, frame);
    this.ctx.roundNumbers.roundEnd(end.round);
    if (this.ctx.channels.length === 0) {
      // One connection: every page of the round came before its ROUND_END; the count we
      // report lets the source check that none went missing.
      this.acknowledge(end.round, this.roundPages);
      this.roundPages = 0;
    } else {
      // Pages of this round may still be on their way on other channels: acknowledge once
      // they are all here.
      this.pendingRounds.set(end.round, end.pages);
      this.settle();
    }
  }

  /** ECHO (version 2 on): answered at once, at most MAX_ECHOES per session. */
  echo(frame: Frame): void {
    if (this.ctx.version < ECHO_MIN_VERSION) {
      throw new ProtocolError(
        ErrorCode.UNEXPECTED_MESSAGE,
        `ECHO needs protocol version ${ECHO_MIN_VERSION}; this session speaks ${this.ctx.version}`,
      );
    }
    const e = decode(Msg.ECHO, frame);
    // Each ECHO gets a reply: a bound keeps a source that never reads from filling our queue.
    if (++this.echoes > MAX_ECHOES) throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `more than ${MAX_ECHOES} ECHO in one session`);
    this.ctx.transport.write(encode(Msg.ECHO_REPLY, e));
  }

  /** Runs `verify` once every announced round's pages are here (at once with one connection). */
  whenSettled(verify: () => void): void {
    if (this.pendingRounds.size > 0) this.pendingVerify = verify;
    else verify();
  }

  /** A reconnection: pages counted for the interrupted round may be lost with it. */
  restart(): void {
    this.roundPages = 0;
    this.ctx.roundNumbers.resync();
  }

  /** Whether a CHANNEL handshake for `sessionId` may join this session now. */
  canAddChannel(sessionId: Uint8Array): boolean {
    const { ctx } = this;
    return (
      (ctx.terms.features & Feature.CHANNELS) !== 0 &&
      ctx.phase.is('receiving') &&
      ctx.channels.length < MAX_DATA_CHANNELS - 1 &&
      Buffer.compare(Buffer.from(sessionId), Buffer.from(ctx.hello.sessionId)) === 0
    );
  }

  /**
   * An extra data channel: PAGES only (CHANNEL_TABLE), applied like those of the control
   * connection. Its end is not an error by itself: a channel lost mid-round leaves the round
   * unacknowledged, and the source, which sees its own channel fail, aborts on the control
   * connection.
   */
  addChannel(transport: TcpTransport): void {
    const { ctx } = this;
    ctx.channels.push(transport);
    transport.reuseFrameBodies();
    transport.setMaxBodyBytes(ctx.terms.maxFrameBodyBytes);
    transport.setIdleTimeout(0);
    void accept(transport, ctx.terms).catch(() => {});
    transport.onFrame((frame) => {
      if (ctx.phase.is('failed')) return;
      try {
        handlerFor(CHANNEL_TABLE, ctx.phase.state, frame);
        if (ctx.phase.is('verifying') && this.pendingVerify === undefined) {
          throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, 'PAGES on a data channel after every round had arrived');
        }
        this.pages(frame, true);
      } catch (err) {
        ctx.fail(toFerryError(err, ErrorCode.FRAME_MALFORMED), true);
      }
    });
  }

  private acknowledge(round: number, pages: number): void {
    const ack = { round, pages, bytesReceived: this.ctx.bytesReceived() };
    this.ctx.transport.write(encode(Msg.ROUND_ACK, ack));
    this.ctx.emit({ type: 'round-end', ...ack });
    this.ctx.rounds++;
  }

  /** Acknowledges every announced round whose pages have all arrived, then a waiting COMPLETE. */
  private settle(): void {
    for (const [round, pages] of this.pendingRounds) {
      const got = this.pagesByRound.get(round) ?? 0;
      if (got > pages)
        throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `round ${round}: ${got} pages arrived, ROUND_END said ${pages}`);
      if (got < pages) continue;
      this.pendingRounds.delete(round);
      this.pagesByRound.delete(round);
      this.acknowledged.add(round);
      this.acknowledge(round, pages);
    }
    if (this.pendingRounds.size === 0 && this.pendingVerify) {
      const verify = this.pendingVerify;
      this.pendingVerify = undefined;
      verify();
    }
  }
}
