/**
 * The destination's check of round numbers (version 4, docs/protocol.md §5.4): rounds count
 * from 0 up by one; PAGES on the control connection carry the round being sent, ROUND_END closes
 * it; SWITCHOVER names the final round and COMPLETE's `finalRound` repeats it after its
 * ROUND_END; post-copy's pages carry POSTCOPY_ENTER's round. Versions 1–3 are not checked.
 */
import { ErrorCode, ProtocolError } from '../errors.ts';
import { NEGOTIATION_MIN_VERSION } from '../protocol/constants.ts';

/** Rounds a data channel's batch may run ahead of the control connection (its ROUND_ENDs may lag). */
const CHANNEL_ROUNDS_AHEAD = 64;

export class RoundNumbers {
  private readonly checked: boolean;
  /** The round whose pages the control connection carries now. */
  private current = 0;
  /** SWITCHOVER's round, once it came. */
  private finalRound: number | undefined;
  /** The final round's ROUND_END came. */
  private finalEnded = false;
  /** POSTCOPY_ENTER's round, in post-copy. */
  private postcopyRound: number | undefined;
  /**
   * After a reconnection the source goes on with a round of its choosing: past ours (a ROUND_END
   * lost with the connection) or one we acknowledged (the ROUND_ACK was lost), sent again.
   */
  private resyncing = false;

  constructor(version: number) {
    this.checked = version >= NEGOTIATION_MIN_VERSION;
  }

  /** A PAGES batch's round, on the control connection (`channel` false) or a data channel. */
  pages(round: number, channel: boolean): void {
    if (!this.checked) return;
    if (this.postcopyRound !== undefined) {
      this.expect(round === this.postcopyRound, `post-copy PAGES for round ${round}; POSTCOPY_ENTER said ${this.postcopyRound}`);
      return;
    }
    if (channel) {
      this.expect(
        round >= this.current - 1 && round <= this.current + CHANNEL_ROUNDS_AHEAD,
        `PAGES on a data channel for round ${round}, while round ${this.current} is being sent`,
      );
      return;
    }
    this.sync(round);
    this.expect(round === this.current, `PAGES for round ${round} while round ${this.current} is being sent`);
  }

  /** ROUND_END `round`: closes the round being sent. */
  roundEnd(round: number): void {
    if (!this.checked) return;
    this.sync(round);
    this.expect(round === this.current, `ROUND_END for round ${round}; round ${this.current} is being sent`);
    if (round === this.finalRound) this.finalEnded = true;
    this.current++;
  }

  /** SWITCHOVER `round`: the final round is the one being sent. */
  switchover(round: number): void {
    if (!this.checked) return;
    this.sync(round);
    this.expect(round === this.current, `SWITCHOVER names round ${round} as the final one; round ${this.current} is being sent`);
    this.finalRound = round;
  }

  /** COMPLETE after pre-copy: its `finalRound` is SWITCHOVER's, whose ROUND_END came. */
  complete(finalRound: number): void {
    if (!this.checked) return;
    this.expect(finalRound === this.finalRound, `COMPLETE says the final round was ${finalRound}; SWITCHOVER said ${this.finalRound}`);
    this.expect(this.finalEnded, `COMPLETE before the final round's ROUND_END (round ${finalRound})`);
  }

  /** POSTCOPY_ENTER `round`: post-copy's pages carry it from now on. */
  postcopyEnter(round: number): void {
    if (!this.checked) return;
    this.sync(round);
    this.expect(round === this.current, `POSTCOPY_ENTER for round ${round}; round ${this.current} is being sent`);
    this.postcopyRound = round;
  }

  /** COMPLETE after post-copy: its `finalRound` is POSTCOPY_ENTER's. */
  postcopyComplete(finalRound: number): void {
    if (!this.checked) return;
    this.expect(finalRound === this.postcopyRound, `COMPLETE says round ${finalRound}; POSTCOPY_ENTER said ${this.postcopyRound}`);
  }

  /** The connection was recovered: the next round number is the source's to choose. */
  resync(): void {
    this.resyncing = true;
  }

  private sync(round: number): void {
    if (!this.resyncing) return;
    this.resyncing = false;
    this.current = round;
  }

  private expect(ok: boolean, message: string): void {
    if (!ok) throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, message);
  }
}
