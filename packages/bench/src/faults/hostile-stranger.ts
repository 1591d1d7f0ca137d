/**
 * A stranger at a destination's door, and the door itself: strangers first, then a real source
 * that must still get its guest across. Shared by the hostile scenarios against a destination.
 */
import { limits, MessageType as M } from '@ferry/engine';
import { typeName } from './fault.ts';
import { observeMigration, realSource, sampleContext, trialDestination } from './hostile-kit.ts';
import type { Observation } from './observation.ts';
import { RawPeer } from './raw-peer.ts';
import type { Rng } from './rng.ts';
import type { SampleContext } from './sample-frames.ts';
import { TIMEOUTS } from './trial-plan.ts';

export const DOOR_LIMIT_MS = 2 * TIMEOUTS.handshakeTimeoutMs;
export const SESSION_LIMIT_MS = 2 * TIMEOUTS.idleTimeoutMs;
/** A frame begun must end within the deadline plus its size at 32 KiB/s; twice that. */
export const trickleLimitMs = (frameBytes: number): number =>
  2 * (TIMEOUTS.frameDeadlineMs + (frameBytes / limits.MIN_FRAME_RATE_BYTES_PER_SEC) * 1000);

/** One stranger at the door: connects, does `act`, and must be answered only with `allowed` frames and closed within `limitMs`. */
export async function stranger(
  port: number,
  label: string,
  act: (peer: RawPeer) => Promise<void> | void,
  limitMs = DOOR_LIMIT_MS,
  allowed: readonly number[] = [M.HELLO_REJECT],
): Promise<string[]> {
  let peer: RawPeer;
  try {
    peer = await RawPeer.connect(port);
  } catch (err) {
    return [`${label}: could not connect (${(err as Error).message})`];
  }
  const opened = performance.now();
  await act(peer);
  const left = limitMs - (performance.now() - opened);
  const closed = await peer.closesWithin(Math.max(0, left));
  peer.destroy();
  const v: string[] = [];
  if (!closed) v.push(`${label}: the destination left the connection open past ${limitMs} ms`);
  for (const f of peer.frames) if (!allowed.includes(f[4]!)) v.push(`${label}: the destination answered ${typeName(f[4]!)}`);
  return v;
}

/** Strangers first, then a real source, which must still get its guest across. */
export async function door(
  rng: Rng,
  strangers: (port: number, ctx: SampleContext) => Promise<string[]>,
  psk?: Uint8Array,
): Promise<Observation> {
  const d = await trialDestination(psk);
  const ctx = await sampleContext(rng.bytes(16));
  const started = performance.now();
  const violations = await strangers(d.port, ctx);
  if (d.accepted()) violations.push('the destination accepted a migration from a stranger');
  const observation = await observeMigration(realSource(d.port, rng, psk ? { psk } : {}), d, started, violations);
  await d.close();
  return observation;
}

/** Runs `tasks` at most `parallel` at a time. */
export async function inBatches<T>(tasks: readonly (() => Promise<T>)[], parallel: number): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < tasks.length; i += parallel) out.push(...(await Promise.all(tasks.slice(i, i + parallel).map((t) => t()))));
  return out;
}
