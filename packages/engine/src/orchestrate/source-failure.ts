/** The source's failure path: what a failed migration leaves behind, and the error that says so. */
import { ErrorCode, type FerryError, MigrationError, PeerError } from '../errors.ts';
import { errorReport } from '../session/error-reports.ts';
import type { SourceContext } from '../session/source-context.ts';
import { attachFailureReport } from '../session/source-report.ts';

/**
 * Ends a failed migration and returns the error to reject with. Before COMMIT: ABORT to the
 * destination, channels closed, the tracker stopped, the throttle lifted and the guest resumed
 * here. After COMMIT the destination may run the guest: the source guest stays paused, and the
 * error says so (FERRY_OUTCOME_UNKNOWN, or FERRY_POSTCOPY_INTERRUPTED with the pages it holds).
 */
export async function failSource(ctx: SourceContext, error: FerryError): Promise<FerryError> {
  const o = ctx.o;
  const failedIn = ctx.phase.state;
  const settle = (final: FerryError, guestResumed: boolean): FerryError => {
    attachFailureReport(ctx, final, failedIn, guestResumed);
    ctx.emit({ type: 'failed', error: final, guestResumed });
    return final;
  };
  const channels = ctx.dataChannels;
  ctx.dataChannels = [];
  const neverRanThere = ctx.phase.is('committed') && destinationNeverResumed(error);
  if (ctx.pageServer && ctx.phase.is('committed', 'postcopy') && !neverRanThere) {
    ctx.phase.to('outcome-unknown');
    const interrupted = new MigrationError(
      ErrorCode.POSTCOPY_INTERRUPTED,
      `post-copy interrupted (${error.message}): the guest runs on the destination without ${ctx.pageServer.pagesLeft} pages ` +
        'this host still holds; the source guest stays paused with its memory intact',
      { cause: error },
    );
    return settle(interrupted, false);
  }
  if (ctx.phase.is('committed') && !neverRanThere) {
    ctx.phase.to('outcome-unknown');
    const unknown = new MigrationError(
      ErrorCode.OUTCOME_UNKNOWN,
      'connection lost after COMMIT: the destination may be running the guest; the source guest stays paused',
      { cause: error },
    );
    return settle(unknown, false);
  }
  const transport = ctx.link?.transport;
  if (transport && !transport.closed) {
    try {
      transport.write(errorReport('ABORT', error));
      await Promise.race([transport.end(), new Promise((r) => setTimeout(r, 1000).unref())]);
    } catch {
      // The connection is going away anyway; the ABORT was a courtesy.
    }
    transport.destroy(error);
  }
  for (const c of channels) c.destroy(error);
  try {
    o.tracker?.stop();
  } catch {
    // Stopping a tracker must not mask the migration's own error.
  }
  await ctx.liftThrottle();
  let resumed = true;
  if (ctx.guestPaused) {
    try {
      await o.controlPlane.resume();
    } catch (err) {
      resumed = false;
      error = new MigrationError(ErrorCode.CONTROL_PLANE_FAILED, `migration failed (${error.message}) and resume() failed too`, {
        cause: err,
      });
    }
  }
  if (!ctx.phase.is('failed')) ctx.phase.to('failed');
  return settle(error, resumed);
}

/**
 * Whether the destination has said, after COMMIT was sent, that it never received it: a FAILED
 * (a destination sends one only before it acts on COMMIT; after, it stays silent or says
 * POSTCOPY_INTERRUPTED) or a reconnection refused with FERRY_NOT_COMMITTED. Then the guest
 * never ran there, and it is safe, and right, to resume it here.
 */
function destinationNeverResumed(error: FerryError): boolean {
  if (error instanceof PeerError)
    return error.remoteCode !== ErrorCode.POSTCOPY_INTERRUPTED && error.remoteCode !== ErrorCode.OUTCOME_UNKNOWN;
  return error.code === ErrorCode.NOT_COMMITTED;
}
