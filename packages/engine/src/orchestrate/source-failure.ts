/** The source's failure path: what a failed migration leaves behind, and the error that says so. */
import { ErrorCode, type FerryError, MigrationError } from '../errors.ts';
import { encode, Msg } from '../protocol/registry.ts';
import type { SourceContext } from '../session/source-context.ts';

/**
 * Ends a failed migration and returns the error to reject with. Before COMMIT: ABORT to the
 * destination, channels closed, the tracker stopped, the throttle lifted and the guest resumed
 * here. After COMMIT the destination may run the guest: the source guest stays paused, and the
 * error says so (FERRY_OUTCOME_UNKNOWN, or FERRY_POSTCOPY_INTERRUPTED with the pages it holds).
 */
export async function failSource(ctx: SourceContext, error: FerryError): Promise<FerryError> {
  const o = ctx.o;
  const channels = ctx.dataChannels;
  ctx.dataChannels = [];
  if (ctx.pageServer && ctx.phase.is('committed', 'postcopy')) {
    ctx.phase.to('outcome-unknown');
    const interrupted = new MigrationError(
      ErrorCode.POSTCOPY_INTERRUPTED,
      `post-copy interrupted (${error.message}): the guest runs on the destination without ${ctx.pageServer.pagesLeft} pages ` +
        'this host still holds; the source guest stays paused with its memory intact',
      { cause: error },
    );
    ctx.emit({ type: 'failed', error: interrupted, guestResumed: false });
    return interrupted;
  }
  if (ctx.phase.is('committed')) {
    ctx.phase.to('outcome-unknown');
    const unknown = new MigrationError(
      ErrorCode.OUTCOME_UNKNOWN,
      'connection lost after COMMIT: the destination may be running the guest; the source guest stays paused',
      { cause: error },
    );
    ctx.emit({ type: 'failed', error: unknown, guestResumed: false });
    return unknown;
  }
  const transport = ctx.link?.transport;
  if (transport && !transport.closed) {
    try {
      transport.write(encode(Msg.ABORT, { code: error.code, message: error.message }));
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
  ctx.emit({ type: 'failed', error, guestResumed: resumed });
  return error;
}
