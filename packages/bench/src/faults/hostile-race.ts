/**
 * Strangers racing a real source: a HELLO at a random moment around the source's (one of them
 * gets the destination, cleanly), and, with a key on both sides, a stranger who saw the session id
 * and tries to join it as a data channel or a reconnection (refused; the real migration goes on).
 */
import { Feature, Intent, limits, MessageType as M } from '@ferry/engine';
import { faultProxy } from './fault-proxy.ts';
import { GUEST_ID, observeMigration, realSource, sampleContext, trialDestination } from './hostile-kit.ts';
import { DOOR_LIMIT_MS, SESSION_LIMIT_MS, stranger } from './hostile-stranger.ts';
import type { Observation } from './observation.ts';
import { RawPeer } from './raw-peer.ts';
import type { Rng } from './rng.ts';
import { helloFrame, sampleFrame } from './sample-frames.ts';
import { sleep } from './settle.ts';

/** A stranger's HELLO at a random moment around a real source's: one of them gets the destination, cleanly. */
export async function strangerRaces(rng: Rng): Promise<Observation> {
  const d = await trialDestination();
  const ctx = await sampleContext(rng.bytes(16));
  const started = performance.now();
  const source = realSource(d.port, rng, { sizeMiB: 16, maxBandwidth: 40e6 });
  await sleep(rng.int(0, 150));
  const peer = await RawPeer.connect(d.port);
  peer.send(helloFrame(ctx, Intent.MIGRATE, 0));
  const answer = await peer.frame(0, DOOR_LIMIT_MS);
  peer.send(rng.bytes(rng.int(1, 4096)));
  const violations: string[] = [];
  if (!(await peer.closesWithin(SESSION_LIMIT_MS))) violations.push('the stranger was not closed within its limit');
  peer.destroy();
  const observation = await observeMigration(source, d, started, violations);
  await d.close();
  const winner = answer?.[4] === M.HELLO_ACCEPT ? 'stranger' : 'source';
  if (winner === 'stranger' && observation.source.outcome.end === 'completed')
    violations.push('both the stranger and the source were accepted');
  return observation;
}

/** With a key on both sides, a stranger who saw the session id joins as a data channel or reconnection: refused, and the real migration goes on. */
export async function strangerJoins(rng: Rng): Promise<Observation> {
  const psk = rng.bytes(32);
  const d = await trialDestination(psk);
  const ctx0 = await sampleContext(rng.bytes(16));
  let sessionId: Uint8Array | undefined;
  const proxy = await faultProxy({
    targetPort: d.port,
    rewrite: (f) => {
      if (!sessionId && f.type === M.HELLO && f.direction === 'to-destination') {
        sessionId = Uint8Array.from(f.bytes.subarray(limits.FRAME_HEADER_BYTES + 16, limits.FRAME_HEADER_BYTES + 32));
      }
      return undefined;
    },
  });
  const started = performance.now();
  const source = realSource(proxy.port, rng, { psk, sizeMiB: 16, maxBandwidth: 30e6, guestId: GUEST_ID });
  while (!sessionId && performance.now() - started < DOOR_LIMIT_MS) await sleep(5);
  const violations: string[] = [];
  if (sessionId) {
    const ctx = { ...ctx0, sessionId, regions: [{ name: 'ram0', sizeBytes: 16 * 2 ** 20 }] };
    violations.push(
      ...(
        await Promise.all([
          stranger(d.port, 'CHANNEL without the key', (p) => p.send(helloFrame(ctx, Intent.CHANNEL, Feature.CHANNELS))),
          stranger(d.port, 'RECOVER without the key', (p) => p.send(helloFrame(ctx, Intent.RECOVER, Feature.RESUMABLE))),
          stranger(
            d.port,
            'CHANNEL with a made-up proof',
            async (p) => {
              p.send(helloFrame(ctx, Intent.CHANNEL, Feature.CHANNELS | Feature.PSK_AUTH), sampleFrame(M.AUTH_SOURCE, rng, ctx));
              await p.frame(0, DOOR_LIMIT_MS);
              p.send(sampleFrame(M.AUTH_PROOF, rng, ctx));
            },
            DOOR_LIMIT_MS,
            [M.AUTH_CHALLENGE, M.HELLO_REJECT],
          ),
        ])
      ).flat(),
    );
  } else {
    violations.push('never saw the session id');
  }
  const observation = await observeMigration(source, d, started, violations);
  await proxy.close();
  await d.close();
  return observation;
}
