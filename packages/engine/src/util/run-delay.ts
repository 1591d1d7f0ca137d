import { readFileSync } from 'node:fs';

/**
 * Milliseconds the calling thread has spent runnable but waiting for a CPU, from Linux's
 * /proc/thread-self/schedstat (NaN elsewhere). A read costs a few microseconds. On a shared
 * machine this is the part of a sender's time that a paused guest would give back.
 */
export function runDelayMs(): number {
  try {
    const fields = readFileSync('/proc/thread-self/schedstat', 'latin1').split(' ');
    return Number(fields[1]) / 1e6;
  } catch {
    return Number.NaN;
  }
}
