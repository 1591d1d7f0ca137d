import type { DowntimePrediction } from '../estimate/downtime.ts';
import type { MigrationEvent } from './events.ts';
import type { RoundStats } from './report.ts';
import type { SourcePhase } from './state-machine.ts';

/** Where a running migration stands, as `MigrationHandle.status()` answers (a snapshot; it never changes). */
export interface MigrationStatus {
  readonly phase: SourcePhase;
  /** The round being sent or last sent; -1 before round 0 begins. */
  readonly round: number;
  /** Whether `round` is the final one, sent with the guest paused. */
  readonly finalRound: boolean;
  /** Milliseconds since the migration started. */
  readonly elapsedMs: number;
  /** Bytes written on every connection so far, headers included; never goes down. */
  readonly bytesSent: number;
  /** Pages put on the wire so far, every round together. */
  readonly pagesSent: number;
  /** Pages of the current round sent so far, and the round's total at its start. */
  readonly roundPagesSent: number;
  readonly roundPages: number;
  /** The link's rate as the last progress event or round measured it, bytes per second (0 before). */
  readonly bandwidthBytesPerSec: number;
  /** The guest's dirty rate at the last sync, pages per second (0 before the first). */
  readonly dirtyPagesPerSec: number;
  /** Bytes the current round still has to send, and the time that takes at the current rate (estimates). */
  readonly roundRemainingBytes: number;
  readonly roundEtaMs: number;
  /** The latest downtime prediction (made at the sync that began the round, or behind the switchover); absent before round 1. */
  readonly prediction?: DowntimePrediction;
  /** Why the migration switched over, once it has. */
  readonly switchoverReason?: string;
  /** The throttle the control plane applied last, percent. */
  readonly throttlePercent: number;
  /** Connections lost and recovered so far. */
  readonly recoveries: number;
  /** Rounds completed so far. */
  readonly rounds: readonly RoundStats[];
}

/** What the board reads live from the migration rather than from its events. */
export interface LiveFigures {
  readonly phase: SourcePhase;
  readonly elapsedMs: number;
  readonly bytesSent: number;
  readonly recoveries: number;
}

/**
 * The source's status board: it follows the migration's events (the same ones `onEvent` sees)
 * and answers `status()` with them and the live figures. Costs nothing between calls.
 */
export class StatusBoard {
  private round = -1;
  private finalRound = false;
  private pagesBeforeRound = 0;
  private roundPagesSent = 0;
  private roundPages = 0;
  private bandwidth = 0;
  private dirtyRate = 0;
  private remainingBytes = 0;
  private etaMs = 0;
  private prediction: DowntimePrediction | undefined;
  private switchoverReason: string | undefined;
  private throttlePercent = 0;
  readonly rounds: RoundStats[] = [];

  observe(event: MigrationEvent): void {
    switch (event.type) {
      case 'round-start':
        this.round = event.round;
        this.finalRound = event.final;
        this.roundPages = event.dirtyPages;
        this.roundPagesSent = 0;
        break;
      case 'progress':
        this.roundPagesSent = event.pagesSent;
        this.bandwidth = event.bandwidthBytesPerSec;
        this.dirtyRate = event.dirtyPagesPerSec;
        this.remainingBytes = event.roundRemainingBytes;
        this.etaMs = event.roundEtaMs;
        break;
      case 'round-end':
        this.rounds.push(event.stats);
        this.pagesBeforeRound += event.stats.pagesSent;
        this.roundPagesSent = event.stats.pagesSent;
        this.remainingBytes = 0;
        this.etaMs = 0;
        if (event.stats.bandwidthBytesPerSec > 0) this.bandwidth = event.stats.bandwidthBytesPerSec;
        if (event.stats.prediction) this.prediction = event.stats.prediction;
        break;
      case 'switchover':
        this.switchoverReason = event.reason;
        if (event.prediction) this.prediction = event.prediction;
        break;
      case 'throttle':
        this.throttlePercent = event.percent;
        break;
      default:
        break;
    }
  }

  /** Pages sent in the rounds that have ended. */
  get pagesSent(): number {
    return this.pagesBeforeRound;
  }

  status(live: LiveFigures): MigrationStatus {
    const inRound = this.rounds.at(-1)?.round !== this.round;
    return {
      phase: live.phase,
      round: this.round,
      finalRound: this.finalRound,
      elapsedMs: live.elapsedMs,
      bytesSent: live.bytesSent,
      pagesSent: this.pagesBeforeRound + (inRound && this.round >= 0 ? this.roundPagesSent : 0),
      roundPagesSent: this.roundPagesSent,
      roundPages: this.roundPages,
      bandwidthBytesPerSec: this.bandwidth,
      dirtyPagesPerSec: this.dirtyRate,
      roundRemainingBytes: this.remainingBytes,
      roundEtaMs: this.etaMs,
      ...(this.prediction && { prediction: this.prediction }),
      ...(this.switchoverReason !== undefined && { switchoverReason: this.switchoverReason }),
      throttlePercent: this.throttlePercent,
      recoveries: live.recoveries,
      rounds: [...this.rounds],
    };
  }
}
