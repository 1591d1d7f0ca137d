import { ErrorCode, ProtocolError } from '../errors.ts';
import type * as msg from '../protocol/messages.ts';
import type { Clock } from '../util/clock.ts';
import { type Deferred, deferred } from '../util/deferred.ts';

/**
 * The source's record of pre-copy rounds in flight: the pages each ROUND_END announced and when
 * it left, checked against the destination's ROUND_ACK; a promise per round that settles with
 * its acknowledgement; and the shortest ROUND_END-to-ROUND_ACK time (a measured round trip).
 */
export class RoundAcks {
  private readonly clock: Clock;
  private readonly pages = new Map<number, number>();
  private readonly endSentAt = new Map<number, number>();
  private readonly waiting = new Map<number, Deferred<void>>();
  private readonly listeners: ((round: number) => void)[] = [];
  private shortestMs = Number.POSITIVE_INFINITY;

  constructor(clock: Clock) {
    this.clock = clock;
  }

  /** Round `round`'s ROUND_END, announcing `pages`, was handed to the transport now. */
  ended(round: number, pages: number): void {
    this.pages.set(round, pages);
    this.endSentAt.set(round, this.clock.nowMs());
  }

  /** A ROUND_ACK arrived: it must count exactly the pages sent in that round. */
  acknowledge(ack: msg.RoundAck): void {
    const sent = this.pages.get(ack.round);
    if (sent !== ack.pages) {
      throw new ProtocolError(
        ErrorCode.UNEXPECTED_MESSAGE,
        `destination acknowledged ${ack.pages} pages for round ${ack.round}, we sent ${sent ?? 'none'}`,
      );
    }
    const sentAt = this.endSentAt.get(ack.round);
    if (sentAt !== undefined) this.shortestMs = Math.min(this.shortestMs, this.clock.nowMs() - sentAt);
    for (const l of this.listeners) l(ack.round);
    this.of(ack.round).resolve();
  }

  /** Called with each acknowledged round (and so every round before it). */
  onAcknowledged(listener: (round: number) => void): void {
    this.listeners.push(listener);
  }

  /** Settles when `round` is acknowledged. */
  of(round: number): Deferred<void> {
    let d = this.waiting.get(round);
    if (!d) {
      d = deferred<void>();
      this.waiting.set(round, d);
    }
    return d;
  }

  /** A new connection: acknowledgements awaited on the old one will never come. */
  forgetWaiting(): void {
    this.waiting.clear();
  }

  /** Shortest ROUND_END to ROUND_ACK time seen: the handover's round trip, measured (Infinity before the first). */
  get shortestRttMs(): number {
    return this.shortestMs;
  }
}
