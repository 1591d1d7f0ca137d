import type { DowntimeBreakdown } from '@ferry/engine';

/**
 * The server-sent events the page draws, by topic. Times (`t`) are seconds on the launcher's
 * clock since the console started, so the ping, the phases and the engine's status line up.
 */
export const Topic = {
  /** `ConsoleSnapshot`: hosts, guests, what the migration is doing. */
  HOSTS: 'hosts',
  /** `PingBatch`: the continuous ping's replies since the last batch, and its counters. */
  PING: 'ping',
  /** `{ t, event }`: one of the engine's `MigrationEvent`s (a failure as `{ type: 'failed', code, message, guestResumed }`). */
  MIGRATION: 'migration',
  /** `{ t, status }`: the engine's `MigrationHandle.status()`, sampled while the migration runs. */
  STATUS: 'status',
  /** `{ t, line }`: the guest's console (what someone logged in to the guest sees). */
  SESSION: 'session',
  /** `{ t, line }`: the launcher's log, as its terminal shows it. */
  LOG: 'log',
  /** `{ target, result }`: a compatibility check (the engine's `probe()` answer). */
  CHECK: 'check',
  /** `{ target, plan }`: the engine's `plan()` answer. */
  PLAN: 'plan',
  /** `ConsoleReport`: the outcome, the downtime's parts and the report's text. */
  REPORT: 'report',
} as const;

/** The continuous ping's replies since the last batch: send time (s) and latency (ms) of each, and the counters so far. */
export interface PingBatch {
  readonly t: readonly number[];
  readonly ms: readonly number[];
  readonly sent: number;
  readonly answered: number;
  readonly wrong: number;
  readonly lost: number;
  readonly longestGapMs: number;
  /** When the longest gap ended, s. */
  readonly longestGapEndT: number;
}

/** What the page shows when it is over. */
export interface ConsoleReport {
  readonly ok: boolean;
  /** `completed`, `rolled-back`, `error`. */
  readonly outcome: string;
  readonly downtimeMs?: number;
  /** The downtime's parts, ms, in order (from `MigrationReport.downtime`). */
  readonly downtimeParts?: Readonly<Record<string, number>>;
  readonly wrong: number;
  readonly lost: number;
  readonly longestGapMs: number;
  /** Why it failed, when it did. */
  readonly reason?: string;
  /** The report as the terminal prints it. */
  readonly text: string;
}

/** `ConsoleReport.downtimeParts` from the engine's breakdown, labelled for the page; they add up to the downtime. */
export function downtimeParts(d: DowntimeBreakdown): Readonly<Record<string, number>> {
  return {
    pause: d.pauseMs,
    'final round': d.finalRoundMs,
    'device state': d.deviceStateMs,
    digest: d.digestMs,
    'handover (verify, commit, resume)': d.handoverMs,
  };
}
