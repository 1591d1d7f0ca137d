/**
 * Strangers whose HELLO a destination accepts, and who then misbehave: every message type out of
 * state, every one cut short, well-framed nonsense in each state (device state past its total,
 * pages past the guest, counts that lie), silence, a frame one byte at a time. Each gets a fresh
 * destination, whose one migration must fail with a FerryError within twice its timeout, close
 * the connection, and never run a guest.
 */
import { Feature, Intent, limits, MessageType as M } from '@ferry/engine';
import { seal } from './frame-seal.ts';
import { typeName } from './fault.ts';
import type { HostileScenario } from './hostile-scenarios.ts';
import { sampleContext, strangersOnly, type TrialDestination, trialDestination } from './hostile-kit.ts';
import { DOOR_LIMIT_MS, inBatches, SESSION_LIMIT_MS, trickleLimitMs } from './hostile-stranger.ts';
import type { Observation, SideEnd } from './observation.ts';
import { RawPeer } from './raw-peer.ts';
import type { Rng } from './rng.ts';
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
import { byDeadline, settle } from './settle.ts';

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

export async function afterTheDoor(scenario: HostileScenario, rng: Rng): Promise<Observation> {
  switch (scenario) {
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
    default:
      throw new Error(`${scenario} is not a scenario after the door`);
  }
}
