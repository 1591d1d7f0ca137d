import { ErrorCode, ProtocolError } from '../errors.ts';
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
