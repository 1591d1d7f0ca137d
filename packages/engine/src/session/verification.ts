/**
 * How pre-copy verifies a migration (`MigrateOptions.verify`, docs/protocol.md §4), without a
 * pass over memory during the pause unless asked:
 * - before the guest resumes, always: the destination's digest of the pages it wrote equals
 *   the source's digest of the pages it sent (`sent`), or of its whole frozen memory (`memory`);
 * - `tracker`: the dirty tracker checked against an independent second one at every sync and
 *   at the pause (`CrossCheckedTracker`); pages it missed go in the next or final round;
 * - after the guest resumes, while the source's copy is still frozen (before `release`): the
 *   audit hashes that copy off the event loop and compares every page with what was sent.
 *   A mismatch means a write both trackers missed; it cannot be undone on a guest that already
 *   runs, so it is reported (an `audit` event, `report.verification.audit`) for the control plane.
 */
import type { Kernels } from '../accel/kernels.ts';
import { CrossCheckedTracker } from '../dirty/cross-check.ts';
import { KernelWriteTracker } from '../dirty/kernel-write.ts';
import type { DirtyTracker } from '../dirty/tracker.ts';
import { ErrorCode, UsageError } from '../errors.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import { hashMemoryAsync } from '../memory/digest.ts';
import type { MigrateOptions } from './migrate-options.ts';
import type { AuditOutcome } from './report.ts';

export interface Verification {
  readonly mode: 'memory' | 'sent' | 'tracker';
  /** The tracker pre-copy runs: the caller's, or it cross-checked. */
  readonly tracker: DirtyTracker;
  readonly crossCheck: CrossCheckedTracker | undefined;
  /** Whether the frozen source is audited after the resume. */
  readonly audit: boolean;
}

/** Resolves `verify` (default `auto`: `tracker` where a second tracker can run, else `sent`). */
export function resolveVerification(o: MigrateOptions): Verification {
  const asked = o.verify ?? 'auto';
  const audit = asked !== 'memory' && (o.audit ?? true);
  if (asked === 'memory' || asked === 'sent') return { mode: asked, tracker: o.tracker, crossCheck: undefined, audit };
  const verifier = o.verifyTracker ?? kernelVerifier(o.memory, o.tracker);
  if (typeof verifier === 'string') {
    if (asked === 'tracker') {
      throw new UsageError(
        ErrorCode.INVALID_ARGUMENT,
        `migrate(): verify: 'tracker' needs a second tracker: pass verifyTracker, or map the guest with GuestMemory.map for the kernel's write tracking (${verifier})`,
      );
    }
    return { mode: 'sent', tracker: o.tracker, crossCheck: undefined, audit };
  }
  const crossCheck = new CrossCheckedTracker(o.tracker, verifier, o.memory.layout);
  return { mode: 'tracker', tracker: crossCheck, crossCheck, audit };
}

/** The kernel's write tracking as the second tracker, or why it cannot be one here. */
function kernelVerifier(memory: GuestMemory, primary: DirtyTracker): KernelWriteTracker | string {
  if (primary.kind === 'kernel-write') return 'the primary tracker is already the kernel write tracker';
  if (memory.regions.some((r) => !r.mapping)) return 'the guest memory was not mapped by the addon';
  const support = KernelWriteTracker.support();
  if (!support.available) return support.reason ?? 'kernel write tracking is unavailable';
  return new KernelWriteTracker(memory);
}

/** Pages listed by the audit at most, of those that differ. */
const AUDIT_LISTED = 16;

/** Hashes the frozen source memory and compares each page with the hash of its copy as sent. */
export async function auditFrozenMemory(
  memory: GuestMemory,
  kernels: Kernels,
  sentHashes: BigUint64Array,
  nowMs: () => number,
): Promise<AuditOutcome> {
  const start = nowMs();
  const hashes = await hashMemoryAsync(memory, kernels);
  const pages: { region: string; page: number }[] = [];
  let mismatched = 0;
  let key = 0;
  for (const region of memory.regions) {
    for (let page = 0; page < region.pageCount; page++, key++) {
      if (hashes[key] === sentHashes[key]) continue;
      mismatched++;
      if (pages.length < AUDIT_LISTED) pages.push({ region: region.name, page });
    }
  }
  return { checkedPages: key, mismatchedPages: mismatched, firstMismatches: pages, ms: nowMs() - start };
}
