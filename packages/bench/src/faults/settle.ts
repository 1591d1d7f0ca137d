/** Turning a side's promise into how it ended, with the hang limit. */
import { FerryError } from '@ferry/engine';
import type { SideEnd } from './observation.ts';

/** How `p` ended: completed, failed with a FerryError's code, or threw something else. */
export function settle(p: Promise<unknown>): Promise<SideEnd> {
  return p.then(
    (): SideEnd => ({ end: 'completed' }),
    (err: unknown): SideEnd =>
      err instanceof FerryError
        ? { end: 'failed', code: err.code, message: err.message }
        : { end: 'threw', message: err instanceof Error ? `${err.name}: ${err.message}` : String(err) },
  );
}

/** `p`, or `{ end: 'hung' }` if it has not settled by `deadline` (a `performance.now()` time). */
export function byDeadline(p: Promise<SideEnd>, deadline: number): Promise<SideEnd> {
  let timer: NodeJS.Timeout | undefined;
  const hung = new Promise<SideEnd>((resolve) => {
    timer = setTimeout(() => resolve({ end: 'hung' }), Math.max(0, deadline - performance.now()));
  });
  return Promise.race([p, hung]).finally(() => clearTimeout(timer));
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `ok` every 20 ms until it holds or `ms` pass; whether it held. */
export async function waitFor(ok: () => boolean, ms: number): Promise<boolean> {
  const until = performance.now() + ms;
  while (!ok()) {
    if (performance.now() >= until) return false;
    await sleep(20);
  }
  return true;
}

/** `p`, or undefined after `ms`; the timer goes when `p` settles first. */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<undefined>((resolve) => (timer = setTimeout(() => resolve(undefined), Math.max(0, ms))))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * How a destination's one migration ended, by `deadline`; `none` if `graceMs` passed without it
 * accepting one (a destination waits for a migration forever: that is not a hang).
 */
export async function destinationOutcome(
  result: Promise<SideEnd>,
  accepted: () => boolean,
  graceMs: number,
  deadline: number,
): Promise<SideEnd> {
  let timer: NodeJS.Timeout | undefined;
  const none = new Promise<SideEnd>((resolve) => {
    timer = setTimeout(() => {
      if (!accepted()) resolve({ end: 'none' });
    }, graceMs);
  });
  try {
    return await byDeadline(Promise.race([result, none]), deadline);
  } finally {
    clearTimeout(timer);
  }
}
