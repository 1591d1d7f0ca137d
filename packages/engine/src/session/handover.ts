import { ErrorCode, type FerryError, ProtocolError } from '../errors.ts';
import type * as msg from '../protocol/messages.ts';
import { decode, encode, Msg } from '../protocol/registry.ts';
import { toHex } from '../util/bytes.ts';
import type { Link } from './connector.ts';
import type { SourceContext } from './source-context.ts';

/** How long the destination may take from COMPLETE (or post-copy's device state) to READY, and from COMMIT to RESUMED. */
export function handoverTimeoutMs(ctx: SourceContext): number {
  return ctx.o.handoverTimeoutMs ?? 60_000;
}

/**
 * The two-step handover's first step, the same after stop-and-copy and post-copy's entry:
 * READY (carrying the digest the source expects, or 0 in post-copy, whose digest comes at the
 * end), then COMMIT. From here the destination may run the guest: the source never resumes it.
 */
export async function commit(ctx: SourceContext, link: Link, expectedDigest: bigint | undefined): Promise<void> {
  const ready = decode(Msg.READY, await link.inbox.next(handoverTimeoutMs(ctx), 'waiting for READY'));
  if (expectedDigest !== undefined && ready.digest !== expectedDigest) {
    throw new ProtocolError(
      ErrorCode.DIGEST_MISMATCH,
      `destination READY carries digest ${toHex(ready.digest)}, ours is ${toHex(expectedDigest)}`,
    );
  }
  link.transport.write(encode(Msg.COMMIT, {}));
  ctx.phase.to('committed');
}

/** The handover's second step: the destination runs the guest, and says what its steps took. */
export async function awaitResumed(ctx: SourceContext, link: Link): Promise<msg.Resumed> {
  return decode(Msg.RESUMED, await link.inbox.next(handoverTimeoutMs(ctx), 'waiting for RESUMED'));
}

/** How long a source that lost its connection after COMMIT asks the destination whether COMMIT arrived. */
export const COMMIT_QUERY_MS = 5_000;

/**
 * The connection broke between COMMIT and RESUMED in pre-copy: ask the destination, by
 * reconnecting, whether COMMIT arrived. One that never got it (it waits in `ready`) refuses with
 * FERRY_NOT_COMMITTED, and the source may resume its guest; any other answer, or none within
 * `COMMIT_QUERY_MS`, leaves the outcome unknown. Always throws: the error to fail with.
 */
export async function askWhetherCommitted(ctx: SourceContext, link: Link, error: FerryError): Promise<never> {
  if (!ctx.worthReconnecting(error, link.transport)) throw error;
  link.transport.destroy(error);
  const back = await ctx.reconnect('precopy', Math.min(ctx.o.recoveryTimeoutMs ?? 30_000, COMMIT_QUERY_MS), error);
  // A destination that takes the session back after COMMIT has nothing to resend: it is not one we understand.
  back.transport.destroy();
  throw error;
}
