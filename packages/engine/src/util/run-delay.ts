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

/**
 * Bytes per second over `elapsedMs` less the `waitedMs` spent waiting for a CPU: the rate a
 * freed core would have given. Never credits more than 3/4 of the time to waiting, so the
 * figure stays a measurement; NaN when the wait is not known.
 */
export function rateWithoutWaits(bytes: number, elapsedMs: number, waitedMs: number): number {
  if (!Number.isFinite(waitedMs) || waitedMs < 0) return Number.NaN;
  return (bytes / Math.max(elapsedMs - waitedMs, elapsedMs / 4)) * 1000;
}
