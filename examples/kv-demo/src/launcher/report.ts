import type { CodecStats, DowntimeBreakdown, MigrationReport, RoundStats } from '@ferry/engine';
import type { DemoFlags } from '../flags.ts';
import type { FromDestination } from '../ipc.ts';
import type { ClientStats } from './client.ts';
import { fmtMiB, fmtMs, fmtRate } from './format.ts';
import type { HoldRecord } from './proxy.ts';

type Incoming = Extract<FromDestination, { type: 'incoming' }>;

/** Everything the demo found, as printed and as written by `--json`. */
export interface DemoReport {
  /** True only if the migration completed and every check passed. */
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly outcome: 'completed' | 'failed';
  readonly failure: { readonly code: string; readonly message: string } | null;
  readonly config: {
    readonly memoryMiB: number;
    readonly churnPagesPerSec: number;
    readonly maxDowntimeMs: number;
    readonly warmupMs: number;
    readonly afterMs: number;
    readonly injectFailure: string;
  };
  readonly wallMs: number;
  readonly migration: {
    readonly totalMs: number;
    readonly downtimeMs: number;
    readonly downtime: DowntimeBreakdown;
    readonly destination: { readonly verifyMs: number; readonly resumeMs: number };
    /** Pre-copy rounds (the final, paused round not counted). */
    readonly rounds: number;
    readonly pagesSent: number;
    readonly bytesSent: number;
    readonly bytesSentDuringDowntime: number;
    readonly finalRoundPages: number;
    readonly deviceStateBytes: number;
    readonly memoryBytes: number;
    readonly kernels: string;
    readonly verify: 'memory' | 'sent' | 'tracker';
    readonly trackerMissedPages: number;
    readonly auditMismatches: number | null;
    readonly switchover: MigrationReport['switchover'];
    readonly codecs: CodecStats;
    readonly roundStats: readonly RoundStats[];
  } | null;
  readonly digest: { readonly source: string | null; readonly destination: string | null; readonly matched: boolean };
  /** The proxy's holds: the guest's traffic held from before pause to after resume. */
  readonly holds: readonly HoldRecord[];
  readonly client: ClientStats;
  /** The guest's INFO reply before the migration and at the end. */
  readonly guest: { readonly before: string; readonly after: string };
}

export interface ReportInput {
  readonly flags: DemoFlags;
  readonly wallMs: number;
  readonly migration: MigrationReport | undefined;
  readonly failure: { readonly code: string; readonly message: string } | undefined;
  readonly incoming: Incoming | undefined;
  readonly holds: readonly HoldRecord[];
  readonly client: ClientStats;
  readonly infoBefore: string;
  readonly infoAfter: string;
}

/** Builds the report and decides whether the run checked out. */
export function buildReport(input: ReportInput): DemoReport {
  const { migration: m, client } = input;
  const completed = m !== undefined && input.failure === undefined;
  const sourceDigest = m?.digest ?? null;
  const destinationDigest = input.incoming?.digest ?? null;
  const matched = sourceDigest !== null && sourceDigest === destinationDigest;
  const problems: string[] = [];
  if (input.failure) problems.push(`migration failed: ${input.failure.code}: ${input.failure.message}`);
  if (completed && !matched) problems.push(`memory digests differ: source ${sourceDigest}, destination ${destinationDigest ?? 'none'}`);
  if (client.wrongAnswers > 0) problems.push(`${client.wrongAnswers} wrong answers`);
  if (client.lostWrites > 0) problems.push(`${client.lostWrites} lost writes`);
  if (client.unanswered > 0) problems.push(`${client.unanswered} requests never answered`);
  if (client.answered === 0) problems.push('no request was answered');
  if (client.keysChecked !== client.keysWritten) problems.push(`read back ${client.keysChecked} of ${client.keysWritten} keys`);
  if (client.connectionError) problems.push(`client connection: ${client.connectionError}`);
  const expectedHost = completed ? 'destination' : 'source';
  if (!input.infoAfter.includes(`host=${expectedHost}`))
    problems.push(`guest should run on the ${expectedHost} at the end; it says "${input.infoAfter}"`);
  return {
    ok: problems.length === 0,
    problems,
    outcome: completed ? 'completed' : 'failed',
    failure: input.failure ?? null,
    config: {
      memoryMiB: input.flags.memoryMiB,
      churnPagesPerSec: input.flags.churnPagesPerSec,
      maxDowntimeMs: input.flags.maxDowntimeMs,
      warmupMs: input.flags.warmupMs,
      afterMs: input.flags.afterMs,
      injectFailure: input.flags.inject,
    },
    wallMs: input.wallMs,
    migration: m
      ? {
          totalMs: m.totalMs,
          downtimeMs: m.downtimeMs,
          downtime: m.downtime,
          destination: m.destination,
          rounds: m.rounds.length - 1,
          pagesSent: m.pagesSent,
          bytesSent: m.bytesSent,
          bytesSentDuringDowntime: m.bytesSentDuringDowntime,
          finalRoundPages: m.finalRoundPages,
          deviceStateBytes: m.deviceStateBytes,
          memoryBytes: m.memoryBytes,
          kernels: m.kernels,
          verify: m.verify,
          trackerMissedPages: m.verification.trackerMissedPages,
          auditMismatches: m.verification.audit?.mismatchedPages ?? null,
          switchover: m.switchover,
          codecs: m.codecs,
          roundStats: m.rounds,
        }
      : null,
    digest: { source: sourceDigest, destination: destinationDigest, matched },
    holds: input.holds,
    client,
    guest: { before: input.infoBefore, after: input.infoAfter },
  };
}

/** The report as people read it. */
export function formatReport(r: DemoReport): string {
  const lines: string[] = ['', '=== Ferry kv-demo report ==='];
  const row = (name: string, text: string): void => {
    lines.push(`${name.padEnd(17)}${text}`);
  };
  const m = r.migration;
  if (m) {
    const d = m.downtime;
    const rounds = `${m.rounds} pre-copy round${m.rounds === 1 ? '' : 's'}`;
    row('migration', `completed in ${fmtMs(m.totalMs)}: ${rounds} + a final round, ${fmtMiB(m.memoryBytes)} guest, ${m.kernels} kernels`);
    const s = m.switchover;
    const limit = s.limitExceeded ? `OVER the ${fmtMs(s.limitMs)} limit` : `within the ${fmtMs(s.limitMs)} limit`;
    const why =
      s.reason === 'converged' || s.reason === 'nothing-left'
        ? `predicted ${fmtMs(s.predictedDowntimeMs ?? 0)}`
        : `paused anyway: pre-copy could not fit it (${s.reason}, predicted ${fmtMs(s.predictedDowntimeMs ?? 0)})`;
    row('downtime', `${fmtMs(m.downtimeMs)} from pause to resumed on the destination, ${limit} (${why})`);
    row('', `= pause ${fmtMs(d.pauseMs)} + final round ${fmtMs(d.finalRoundMs)} + device state ${fmtMs(d.deviceStateMs)}`);
    row(
      '',
      `  + digest ${fmtMs(d.digestMs)} + handover ${fmtMs(d.handoverMs)} (destination: verify ${fmtMs(m.destination.verifyMs)}, resume ${fmtMs(m.destination.resumeMs)})`,
    );
    row('data sent', `${fmtMiB(m.bytesSent)} (${m.pagesSent} pages) at ${fmtRate((m.bytesSent / m.totalMs) * 1000)} on average`);
    row('', `${m.finalRoundPages} pages, ${fmtMiB(m.bytesSentDuringDowntime)} while paused; device state ${m.deviceStateBytes} bytes`);
    if (m.codecs.mode !== 'off') {
      const p = m.codecs.pages;
      row('encodings', `${m.codecs.mode}: raw ${p.raw}, zero ${p.zero}, lz4 ${p.lz4}, xbzrle ${p.xbzrle}, dedup ${p.dedup} pages`);
    }
  } else {
    row('migration', `FAILED: ${r.failure?.code ?? '?'}: ${r.failure?.message ?? '?'}`);
  }
  row(
    'memory digest',
    r.digest.matched
      ? `${r.digest.source} on both hosts: match (source side ${r.migration?.verify === 'memory' ? 'from all of its memory' : 'from the pages as sent'})${verificationNote(r.migration)}`
      : `source ${r.digest.source ?? '-'}, destination ${r.digest.destination ?? '-'}`,
  );
  const c = r.client;
  row(
    'client',
    `longest gap between replies ${fmtMs(c.longestGapMs)} (at t=${fmtMs(c.longestGapEndMs)}), slowest request ${fmtMs(c.maxLatencyMs)}`,
  );
  for (const h of r.holds) row('', `proxy held ${h.requests} requests for ${fmtMs(h.heldMs)}, then sent them to the ${h.releasedTo} guest`);
  row('requests', `${c.sent} sent, ${c.answered} answered (${c.sets} SET, ${c.gets} GET, ${c.keysChecked} final reads)`);
  row('wrong answers', String(c.wrongAnswers));
  row('lost writes', `${c.lostWrites} (every one of ${c.keysWritten} keys read back)`);
  for (const s of c.samples) row('', s);
  row('guest before', r.guest.before);
  row('guest after', r.guest.after);
  lines.push('');
  if (r.ok) lines.push(`OK: the guest moved with its memory and registers; ${c.answered} requests, none wrong, none lost, none dropped.`);
  else lines.push(`FAILED:\n${r.problems.map((p) => `  - ${p}`).join('\n')}`);
  if (r.config.injectFailure !== 'none') {
    lines.push(
      `(the failure was injected with --inject-failure ${r.config.injectFailure}, to show the rollback: the source kept the guest running)`,
    );
  }
  return lines.join('\n');
}

/** How the migration was checked beyond the digest: the second tracker, and the audit after the resume. */
function verificationNote(m: { verify: string; trackerMissedPages: number; auditMismatches: number | null } | undefined | null): string {
  if (!m) return '';
  const parts: string[] = [];
  if (m.verify === 'tracker') parts.push(`tracker cross-checked by the kernel's, ${m.trackerMissedPages} pages it missed`);
  if (m.auditMismatches !== null) parts.push(`audit after resume: ${m.auditMismatches} pages differ`);
  return parts.length ? `; ${parts.join('; ')}` : '';
}
