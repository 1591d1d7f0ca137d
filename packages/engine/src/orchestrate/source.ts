/** `migrate()`: composes the source's phases (connect, pre-copy, stop-and-copy or post-copy) over one context. */
import { loadKernels, nativeStatus } from '../accel/index.ts';
import { claimGuest } from '../dirty/guest-lock.ts';
import { ErrorCode, MigrationError, toFerryError } from '../errors.ts';
import { servePostcopy } from '../postcopy/serving.ts';
import { PrecopyRounds } from '../precopy/rounds.ts';
import { stopAndCopy } from '../precopy/stop-and-copy.ts';
import { Intent } from '../protocol/constants.ts';
import type { MigrateOptions } from '../session/migrate-options.ts';
import type { MigrationStatus } from '../session/migration-status.ts';
import { checkMigrateOptions } from '../session/option-checks.ts';
import type { MigrationReport } from '../session/report.ts';
import { SourceContext } from '../session/source-context.ts';
import { failSource } from './source-failure.ts';
import { logger } from '../util/log.ts';

const log = logger('orchestrate');

export type { MigrateOptions } from '../session/migrate-options.ts';

/** A migration under way, from `startMigration()`. */
export interface MigrationHandle {
  /** Where the migration stands now: phase, round, bytes, rates, the latest prediction, elapsed time. */
  status(): MigrationStatus;
  /**
   * The report once the guest runs on the destination. Rejects as `migrate()` does, with a
   * FerryError whose `report` says what the migration had done.
   */
  readonly result: Promise<MigrationReport>;
  /**
   * Cancels, as aborting `options.signal` does: before COMMIT the guest resumes here and
   * `result` rejects with FERRY_ABORTED; once COMMIT is sent it is ignored (the destination may
   * run the guest). Idempotent.
   */
  cancel(reason?: unknown): void;
}

/**
 * Live-migrates `memory` to a Ferry destination: by pre-copy (default; rounds while the guest
 * runs, then pause, final round, device state, digest, and a two-step handover: READY, COMMIT,
 * RESUMED), by post-copy, or pre-copy then post-copy (`strategy`).
 *
 * On any failure before COMMIT the guest is resumed here and the promise rejects with a
 * FerryError. After COMMIT the destination may be running the guest, so a failure there
 * rejects with FERRY_OUTCOME_UNKNOWN (or FERRY_POSTCOPY_INTERRUPTED) and leaves the guest
 * paused for the control plane.
 */
export async function migrate(options: MigrateOptions): Promise<MigrationReport> {
  return await startMigration(options).result;
}

/**
 * Starts `migrate()` and returns at once with a handle: `status()` while it runs, `result`,
 * `cancel()`. Options that cannot run and a guest already migrating throw here, synchronously
 * (FERRY_INVALID_ARGUMENT, FERRY_INSECURE, FERRY_BUSY), before anything is touched.
 */
export function startMigration(options: MigrateOptions): MigrationHandle {
  // Options first: a call that cannot run fails before it claims or touches anything.
  checkMigrateOptions(options);
  // Then one migration per guest, before anything else: a second one must not touch the
  // first's tracker or guest, even to fail.
  const release = claimGuest('a migration', options.memory, options.tracker);
  const cancelling = new AbortController();
  const signal = options.signal ? AbortSignal.any([options.signal, cancelling.signal]) : cancelling.signal;
  const ctx = new SourceContext({ ...options, signal });
  return {
    status: () => ctx.status(),
    result: drive(ctx, release),
    cancel: (reason) => cancelling.abort(reason ?? new Error('cancelled by MigrationHandle.cancel()')),
  };
}

async function drive(ctx: SourceContext, release: () => void): Promise<MigrationReport> {
  const stopSampling = ctx.sampleBytesPerSecond();
  const o = ctx.o;
  log(
    'migrate %s to %s:%d: %d bytes, strategy %s',
    Buffer.from(ctx.sessionId).toString('hex'),
    o.host,
    o.port,
    o.memory.totalBytes,
    o.strategy ?? 'precopy',
  );
  try {
    const report = await run(ctx);
    log('completed in %s ms, downtime %s ms', report.totalMs.toFixed(1), report.downtimeMs.toFixed(1));
    return report;
  } catch (err) {
    const error = await failSource(ctx, toFerryError(err, ErrorCode.CONNECTION_LOST));
    log(
      'failed in %s: %s %s; %s',
      error.report?.failedIn,
      error.code,
      error.message,
      error.report?.guestResumed ? 'the guest runs here' : 'the guest stays paused',
    );
    throw error;
  } finally {
    stopSampling();
    release();
  }
}

async function run(ctx: SourceContext): Promise<MigrationReport> {
  const o = ctx.o;
  ctx.checkAborted();
  const kernels = o.kernels ?? (await loadKernels());
  ctx.kernels = kernels;
  if (kernels.name === 'js' && !o.kernels) {
    // Not asked for: say so, since every page hash now runs several times slower.
    ctx.kernelsFallback = nativeStatus().reason ?? 'the native addon did not load';
    ctx.emit({ type: 'kernels-fallback', reason: ctx.kernelsFallback });
  }
  const transport = await ctx.connector.connect();
  ctx.link = ctx.connector.attach(transport);
  const onAbort = (): void => {
    // Once COMMIT is sent the destination may run the guest: breaking the connection then would
    // only make the outcome unknown, so a cancellation that late is ignored.
    if (ctx.pastCommit) return;
    ctx.link?.transport.destroy(new MigrationError(ErrorCode.ABORTED, 'migration cancelled', { cause: o.signal?.reason }));
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    ctx.phase.to('handshake');
    ctx.agree(await ctx.connector.handshake(transport, ctx.link.inbox, Intent.MIGRATE));
    const pre = await PrecopyRounds.run(ctx, kernels);
    if (pre.next.kind === 'switchover') return await stopAndCopy(ctx, kernels, pre.rounds!, pre.dirty, pre.round, pre.prediction);
    return await servePostcopy(ctx, kernels, {
      missing: pre.dirty,
      round: pre.round,
      reason: pre.next.reason,
      ...(pre.rounds && {
        precopy: {
          encoder: pre.rounds.encoder,
          pagesSent: pre.rounds.sender.pagesSent,
          rounds: pre.rounds.sender.rounds,
          verification: pre.rounds.verification,
        },
      }),
    });
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}
