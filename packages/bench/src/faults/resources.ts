/**
 * Leak checks for trials that run in this process: the handles Node holds (sockets, servers,
 * timers, workers, message ports) by kind, before a trial and after it was torn down.
 */
import { readdirSync } from 'node:fs';
import { waitFor } from './settle.ts';

export type ResourceCounts = Record<string, number>;

/** Active handles and requests of this process, by kind; plus open file descriptors as `fd`. */
export function resourceCounts(): ResourceCounts {
  const counts: ResourceCounts = {};
  for (const kind of process.getActiveResourcesInfo()) counts[kind] = (counts[kind] ?? 0) + 1;
  counts.fd = openFds();
  return counts;
}

/** Open file descriptors of this process (Linux), or -1 where /proc is not there. */
export function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return -1;
  }
}

/** What is held now beyond `baseline`, as "kind +n". */
export function excess(baseline: ResourceCounts, now: ResourceCounts = resourceCounts()): string[] {
  const out: string[] = [];
  for (const [kind, n] of Object.entries(now)) {
    const extra = n - (baseline[kind] ?? 0);
    if (extra > 0) out.push(`${kind} +${extra}`);
  }
  return out;
}

/** Waits up to `graceMs` for everything beyond `baseline` to be released; what is still held then. */
export async function leaksAfter(baseline: ResourceCounts, graceMs = 3000): Promise<string[]> {
  await waitFor(() => excess(baseline).length === 0, graceMs);
  return excess(baseline);
}
