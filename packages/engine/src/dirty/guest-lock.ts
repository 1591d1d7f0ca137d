import { ErrorCode, UsageError } from '../errors.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import type { DirtyTracker } from './tracker.ts';

/** What holds a guest now, by its memory buffers and its tracker. */
const holders = new WeakMap<object, { readonly what: string }>();

/**
 * Claims a guest for `what` (a migration, a plan, a dirty-rate sample): at most one may run per
 * guest, across every entry point. Two migrations of one guest would run two copies of it on
 * two destinations; any two of them would take each other's dirty bits. The guest is known by
 * its memory's buffers (two `GuestMemory` views of one buffer are one guest) and its tracker.
 * Returns the release; throws FERRY_BUSY naming what holds it.
 */
export function claimGuest(what: string, memory: GuestMemory | undefined, tracker: DirtyTracker | undefined): () => void {
  const keys: object[] = [];
  if (memory) for (const r of memory.regions) keys.push(r.bytes.buffer);
  if (tracker) keys.push(tracker);
  for (const key of keys) {
    const holder = holders.get(key);
    if (holder !== undefined) {
      throw new UsageError(ErrorCode.BUSY, `this guest already has ${holder.what} in flight; ${what} must wait for it to end`);
    }
  }
  const claim = { what };
  for (const key of keys) holders.set(key, claim);
  let released = false;
  return () => {
    if (released) return;
    released = true;
    for (const key of keys) if (holders.get(key) === claim) holders.delete(key);
  };
}
