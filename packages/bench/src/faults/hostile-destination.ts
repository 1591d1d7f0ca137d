/**
 * Hostile peers against a destination: strangers that send garbage, every message type first,
 * truncated and oversized frames, nothing at all, or a HELLO one byte at a time; strangers
 * whose HELLO is accepted and who then misbehave; and strangers racing a real source. The
 * destination must refuse each with a typed error and close it within twice its timeout, never
 * run a guest for it, and still take the real source's guest byte for byte.
 */
import { ErrorCode, Feature, Intent, limits, MessageType as M } from '@ferry/engine';
import { faultProxy } from './fault-proxy.ts';
import { typeName } from './fault.ts';
import type { HostileScenario } from './hostile-scenarios.ts';
import {
  GUEST_ID,
  observeMigration,
  realSource,
  sampleContext,
  strangersOnly,
  type TrialDestination,
  trialDestination,
} from './hostile-kit.ts';
import type { Observation, SideEnd } from './observation.ts';
import { RawPeer } from './raw-peer.ts';
import type { Rng } from './rng.ts';
import { seal } from './frame-seal.ts';
import {
  ALL_TYPES,
  helloFrame,
  pagesFrame,
  rawFrame,
  type SampleContext,
  sampleFrame,
  truncatedFrame,
  UNASSIGNED_TYPES,
} from './sample-frames.ts';
import { byDeadline, settle, sleep } from './settle.ts';
import { TIMEOUTS } from './trial-plan.ts';

const DOOR_LIMIT_MS = 2 * TIMEOUTS.handshakeTimeoutMs;
const SESSION_LIMIT_MS = 2 * TIMEOUTS.idleTimeoutMs;
/** A frame begun must end within the deadline plus its size at 32 KiB/s; twice that. */
const trickleLimitMs = (frameBytes: number): number =>
  2 * (TIMEOUTS.frameDeadlineMs + (frameBytes / limits.MIN_FRAME_RATE_BYTES_PER_SEC) * 1000);

/** One stranger at the door: connects, does `act`, and must be answered only with `allowed` frames and closed within `limitMs`. */
async function stranger(
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
async function door(rng: Rng, strangers: (port: number, ctx: SampleContext) => Promise<string[]>, psk?: Uint8Array): Promise<Observation> {
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
async function inBatches<T>(tasks: readonly (() => Promise<T>)[], parallel: number): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < tasks.length; i += parallel) out.push(...(await Promise.all(tasks.slice(i, i + parallel).map((t) => t()))));
  return out;
}

interface SessionEnd {
  readonly end: SideEnd;
  readonly resumed: boolean;
  readonly violations: string[];
}

/** A stranger whose HELLO a fresh destination accepts, and who then does `act`: the destination's one migration must fail clean. */
async function acceptedStranger(
  ctx: SampleContext,
  label: string,
  act: (peer: RawPeer, framed: (frame: Buffer) => Buffer) => Promise<void> | void,
  limitMs = SESSION_LIMIT_MS,
  versionMax = 2,
): Promise<SessionEnd> {
  const d: TrialDestination = await trialDestination();
  const violations: string[] = [];
  const peer = await RawPeer.connect(d.port);
  peer.send(helloFrame(ctx, Intent.MIGRATE, Feature.POSTCOPY, { versionMax }));
  const accept = await peer.frame(0, DOOR_LIMIT_MS);
  if (accept?.[4] !== M.HELLO_ACCEPT) violations.push(`${label}: HELLO not accepted (${accept ? typeName(accept[4]!) : 'nothing'})`);
  // From version 3 on, frames after HELLO_ACCEPT carry a checksum: a stranger's are well-formed.
  const version = accept && accept.byteLength >= limits.FRAME_HEADER_BYTES + 2 ? accept.readUInt16LE(limits.FRAME_HEADER_BYTES) : 1;
  const framed = (frame: Buffer): Buffer => (version >= 3 ? seal(frame) : frame);
  label = `${label} (v${version})`;
  const opened = performance.now();
  await act(peer, framed);
  const end = await byDeadline(settle(d.destination.result), opened + limitMs);
  const closed = await peer.closesWithin(Math.max(0, limitMs - (performance.now() - opened)));
  peer.destroy();
  await d.close();
  if (!closed) violations.push(`${label}: connection open past ${limitMs} ms`);
  if (end.end === 'completed') violations.push(`${label}: the destination completed a stranger's migration`);
  if (end.end === 'hung') violations.push(`${label}: the destination's migration had not ended after ${limitMs} ms`);
  if (end.end === 'threw') violations.push(`${label}: non-FerryError ${end.message}`);
  const resumed = d.plane.calls.includes('resume');
  if (resumed) violations.push(`${label}: the destination resumed a stranger's guest`);
  return { end, resumed, violations: violations.map((v) => v) };
}

function sessions(results: readonly SessionEnd[], started: number): Observation {
  const violations = results.flatMap((r) => r.violations);
  const threw = results.find((r) => r.end.end === 'threw');
  const codes = new Map<string, number>();
  for (const r of results) {
    const code = r.end.end === 'failed' ? r.end.code : r.end.end;
    codes.set(code, (codes.get(code) ?? 0) + 1);
  }
  const summary = [...codes].map(([code, n]) => `${n} ${code}`).join(', ');
  const end: SideEnd = threw?.end ?? { end: 'failed', code: 'FERRY_*', message: `${results.length} strangers: ${summary}` };
  return strangersOnly(
    end,
    results.some((r) => r.resumed),
    [],
    started,
    violations,
  );
}

export async function againstDestination(scenario: HostileScenario, rng: Rng): Promise<Observation> {
  switch (scenario) {
    case 'garbage-bytes':
      return door(rng, async (port) => stranger(port, 'garbage', (p) => p.send(rng.bytes(rng.int(1, 70_000)))));
    case 'http-request':
      return door(rng, async (port) =>
        stranger(port, 'http', (p) => p.send(Buffer.from('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: faults\r\n\r\n'))),
      );
    case 'tls-client-hello':
      return door(rng, async (port) =>
        stranger(port, 'tls', (p) =>
          p.send(Buffer.concat([Buffer.from('160301020001 0001fc0303'.replace(/ /g, ''), 'hex'), rng.bytes(500)])),
        ),
      );
    case 'first-frame-each-type':
      return door(rng, async (port, ctx) => {
        const strangers: Promise<string[]>[] = [];
        for (const type of [...ALL_TYPES, ...UNASSIGNED_TYPES]) {
          if (type === M.HELLO) continue;
          strangers.push(stranger(port, `first ${typeName(type)}`, (p) => p.send(sampleFrame(type, rng, ctx))));
        }
        const bad = helloFrame(ctx, Intent.MIGRATE, 0);
        const badMagic = Buffer.from(bad);
        badMagic[limits.FRAME_HEADER_BYTES + 2]! ^= 0x20;
        const variants: [string, Buffer][] = [
          ['HELLO bad magic', badMagic],
          ['HELLO versions 7..9', helloFrame(ctx, Intent.MIGRATE, 0, { versionMin: 7, versionMax: 9 })],
          ['HELLO intent 9', helloFrame(ctx, 9, 0)],
          ['HELLO unknown feature', helloFrame(ctx, Intent.MIGRATE, 0x100)],
          ['HELLO no regions', helloFrame(ctx, Intent.MIGRATE, 0, { regions: [] })],
          ['HELLO page size 3000', helloFrame(ctx, Intent.MIGRATE, 0, { pageSize: 3000 })],
          ['HELLO guest too large', helloFrame(ctx, Intent.MIGRATE, 0, { regions: [{ name: 'ram0', sizeBytes: 2 ** 30 }] })],
          ['HELLO CHANNEL, no session', helloFrame(ctx, Intent.CHANNEL, Feature.CHANNELS)],
          ['HELLO RECOVER, no session', helloFrame(ctx, Intent.RECOVER, Feature.RESUMABLE)],
          ['HELLO PSK without a key here', helloFrame(ctx, Intent.MIGRATE, Feature.PSK_AUTH)],
        ];
        for (const [label, frame] of variants) strangers.push(stranger(port, label, (p) => p.send(frame)));
        strangers.push(
          stranger(port, 'HELLO PROBE', (p) => p.send(helloFrame(ctx, Intent.PROBE, 0)), DOOR_LIMIT_MS, [M.HELLO_ACCEPT, M.HELLO_REJECT]),
        );
        return (await Promise.all(strangers)).flat();
      });
    case 'hello-truncated':
      return door(rng, async (port, ctx) => {
        const hello = helloFrame(ctx, Intent.MIGRATE, 0);
        const body = hello.byteLength - limits.FRAME_HEADER_BYTES;
        const strangers: Promise<string[]>[] = [];
        for (const keep of [0, 4, 8, 16, rng.int(17, body - 2), body - 1]) {
          strangers.push(stranger(port, `HELLO body cut to ${keep}`, (p) => p.send(truncatedFrame(hello, keep))));
        }
        for (const keep of [1, 3, 7, rng.int(9, hello.byteLength - 2), hello.byteLength - 1]) {
          strangers.push(
            stranger(port, `HELLO stream cut at ${keep}`, (p) => {
              p.send(hello.subarray(0, keep));
              p.socket.end();
            }),
          );
        }
        return (await Promise.all(strangers)).flat();
      });
    case 'oversized-frames':
      return door(rng, async (port, ctx) => {
        const hello = helloFrame(ctx, Intent.MIGRATE, 0);
        const huge = Buffer.from(hello);
        huge.writeUInt32LE(0xffff_ffff, 0);
        const overLimit = rawFrame(M.HELLO, rng.bytes(limits.MAX_HELLO_BODY_BYTES + 1));
        const padded = Buffer.concat([hello, rng.bytes(16)]);
        padded.writeUInt32LE(hello.byteLength - limits.FRAME_HEADER_BYTES + 16, 0);
        return (
          await Promise.all([
            stranger(port, 'HELLO declaring 4 GiB', (p) => p.send(huge, rng.bytes(256 * 1024))),
            stranger(port, 'HELLO one byte over the limit', (p) => p.send(overLimit)),
            stranger(port, 'HELLO with trailing bytes', (p) => p.send(padded)),
            stranger(port, 'PAGES declaring 16 MiB first', (p) => p.send(rawFrame(M.PAGES, rng.bytes(1024), limits.MAX_FRAME_BODY_BYTES))),
          ])
        ).flat();
      });
    case 'idle-connections': {
      const d = await trialDestination();
      const started = performance.now();
      const idle = Array.from({ length: 20 }, (_, i) => stranger(d.port, `idle ${i}`, () => {}));
      const source = realSource(d.port, rng);
      const violations = (await Promise.all(idle)).flat();
      const observation = await observeMigration(source, d, started, violations);
      await d.close();
      return observation;
    }
    case 'trickle-hello':
      return door(rng, async (port, ctx) => {
        const hello = helloFrame(ctx, Intent.MIGRATE, 0);
        return stranger(port, 'HELLO a byte every 60 ms', (p) => void p.trickle(hello, 1, 60), trickleLimitMs(hello.byteLength));
      });
    case 'replayed-handshake':
      return replayedHandshake(rng);
    case 'stranger-wrong-key': {
      const psk = rng.bytes(32);
      return door(
        rng,
        async (port) => {
          const violations: string[] = [];
          for (const [label, key, code] of [
            ['wrong key', rng.bytes(32), ErrorCode.AUTH_FAILED],
            ['no key', undefined, ErrorCode.AUTH_REQUIRED],
          ] as const) {
            const end = await byDeadline(realSource(port, rng, key ? { psk: key } : {}).outcome, performance.now() + DOOR_LIMIT_MS * 2);
            if (end.end !== 'failed' || (end.code !== code && !(end.code === ErrorCode.PEER_FAILED || end.code === ErrorCode.REJECTED))) {
              violations.push(`source with ${label}: ended ${end.end}${end.end === 'failed' ? ` ${end.code}` : ''}, expected ${code}`);
            }
          }
          return violations;
        },
        psk,
      );
    }
    case 'out-of-state-each-type': {
      const ctx = await sampleContext(rng.bytes(16));
      const started = performance.now();
      const types = [...ALL_TYPES, ...UNASSIGNED_TYPES];
      const results = await inBatches(
        types.map(
          (type, i) => () =>
            acceptedStranger(
              ctx,
              `${typeName(type)} after HELLO`,
              (p, framed) => p.send(framed(sampleFrame(type, rng, ctx))),
              SESSION_LIMIT_MS,
              2 + (i % 2),
            ),
        ),
        8,
      );
      return sessions(results, started);
    }
    case 'truncated-each-type': {
      const ctx = await sampleContext(rng.bytes(16));
      const started = performance.now();
      const tasks = ALL_TYPES.flatMap((type) => {
        const frame = sampleFrame(type, rng, ctx);
        const body = frame.byteLength - limits.FRAME_HEADER_BYTES;
        if (body === 0) return [];
        const keep = rng.int(0, body - 1);
        return [
          () =>
            acceptedStranger(
              ctx,
              `${typeName(type)} cut to ${keep} of ${body}`,
              (p, framed) => p.send(framed(truncatedFrame(frame, keep))),
              SESSION_LIMIT_MS,
              2 + (type % 2),
            ),
        ];
      });
      return sessions(await inBatches(tasks, 8), started);
    }
    case 'idle-after-hello': {
      const ctx = await sampleContext(rng.bytes(16));
      const started = performance.now();
      return sessions([await acceptedStranger(ctx, 'silent after HELLO', () => {})], started);
    }
    case 'trickle-pages': {
      const ctx = await sampleContext(rng.bytes(16));
      const started = performance.now();
      const pages = sampleFrame(M.PAGES, rng, ctx);
      return sessions(
        [await acceptedStranger(ctx, 'PAGES a byte every 150 ms', (p) => void p.trickle(pages, 1, 150), trickleLimitMs(pages.byteLength))],
        started,
      );
    }
    case 'in-state-malformed': {
      const ctx = await sampleContext(rng.bytes(16));
      const started = performance.now();
      const frame = (type: number, body: Uint8Array): Buffer => rawFrame(type, body);
      const u32s = (...words: number[]): Buffer => {
        const b = Buffer.alloc(words.length * 4);
        for (const [i, w] of words.entries()) b.writeUInt32LE(w >>> 0, i * 4);
        return b;
      };
      const deviceState = (total: number, offset: number, data: Uint8Array): Buffer => {
        const b = Buffer.alloc(16 + data.byteLength);
        b.writeBigUInt64LE(BigInt(total), 0);
        b.writeBigUInt64LE(BigInt(offset), 8);
        b.set(data, 16);
        return frame(M.DEVICE_STATE, b);
      };
      const switchover = frame(M.SWITCHOVER, u32s(0));
      const sequences: [string, Buffer[]][] = [
        ['DEVICE_STATE longer than its total', [switchover, deviceState(4, 0, rng.bytes(8))]],
        ['DEVICE_STATE past its total', [switchover, deviceState(8, 0, rng.bytes(4)), deviceState(8, 4, rng.bytes(8))]],
        ['DEVICE_STATE of 1 TiB', [switchover, deviceState(2 ** 40, 0, rng.bytes(4))]],
        ['DEVICE_STATE out of order', [switchover, deviceState(8, 4, rng.bytes(4))]],
        ['COMPLETE with a wrong digest', [switchover, deviceState(0, 0, new Uint8Array(0)), sampleFrame(M.COMPLETE, rng, ctx)]],
        ['PAGES for region 9', [pagesFrame(ctx, 0, 0, 9)]],
        ['PAGES past the region', [pagesFrame(ctx, 0, 2048)]],
        ['ROUND_END counting more pages than sent', [pagesFrame(ctx, 0), frame(M.ROUND_END, u32s(0, 5))]],
        ['ROUND_END for a round never sent', [frame(M.ROUND_END, u32s(7, 0))]],
        [
          'POSTCOPY_MISSING past the region',
          [frame(M.POSTCOPY_ENTER, u32s(0)), frame(M.POSTCOPY_MISSING, Buffer.concat([u32s(0, 2040, 100), Uint8Array.of(0, 100)]))],
        ],
        ['a second POSTCOPY_ENTER', [frame(M.POSTCOPY_ENTER, u32s(0)), frame(M.POSTCOPY_ENTER, u32s(0))]],
        ['COMMIT before READY', [switchover, frame(M.COMMIT, new Uint8Array(0))]],
      ];
      const results = await inBatches(
        sequences.map(
          ([label, frames], i) =>
            () =>
              acceptedStranger(ctx, label, (p, framed) => p.send(...frames.map(framed)), SESSION_LIMIT_MS, 2 + (i % 2)),
        ),
        6,
      );
      return sessions(results, started);
    }
    case 'stranger-races-source':
      return strangerRaces(rng);
    case 'stranger-joins-session':
      return strangerJoins(rng);
    default:
      throw new Error(`${scenario} is not a scenario against a destination`);
  }
}

/** A real source's PSK handshake recorded through a proxy, replayed against another destination with the same key. */
async function replayedHandshake(rng: Rng): Promise<Observation> {
  const psk = rng.bytes(32);
  const first = await trialDestination(psk);
  const recorded: Buffer[] = [];
  const proxy = await faultProxy({
    targetPort: first.port,
    rewrite: (f) => {
      if (f.direction === 'to-destination' && f.connection === 0 && [M.HELLO, M.AUTH_SOURCE, M.AUTH_PROOF].includes(f.type as 1)) {
        recorded.push(Buffer.from(f.bytes));
      }
      return undefined;
    },
  });
  await realSource(proxy.port, rng, { psk }).outcome;
  await first.destination.result.catch(() => {});
  await proxy.close();
  await first.close();
  return door(
    rng,
    async (port) => {
      if (recorded.length < 3) return [`recorded ${recorded.length} handshake frames, not 3`];
      return stranger(
        port,
        'replayed handshake',
        async (p) => {
          p.send(recorded[0]!, recorded[1]!);
          await p.frame(0, DOOR_LIMIT_MS);
          p.send(recorded[2]!);
        },
        DOOR_LIMIT_MS,
        [M.AUTH_CHALLENGE, M.HELLO_REJECT],
      );
    },
    psk,
  );
}

/** A stranger's HELLO at a random moment around a real source's: one of them gets the destination, cleanly. */
async function strangerRaces(rng: Rng): Promise<Observation> {
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
async function strangerJoins(rng: Rng): Promise<Observation> {
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
