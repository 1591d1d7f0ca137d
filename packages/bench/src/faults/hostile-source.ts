/**
 * Hostile and lying destinations against a real source whose guest keeps writing: garbage,
 * silence, a trickle, every message type as the first answer, messages out of state, and a real
 * destination behind a proxy that lies (a wrong digest, a wrong count, RESUMED instead of
 * READY, FAILED instead of RESUMED, a wrong post-copy digest, a request for a page that does not
 * exist). The source's guest must end running and intact, or paused and intact with the error
 * saying the outcome is unknown, or released only to a destination that proved it holds it.
 * A lying destination is not a place the guest can be counted as running.
 */
import net from 'node:net';
import { encodeFrame, GuestMemory, type MigrateOptions, MessageType as M, messages, migrate, WriteBarrierTracker } from '@ferry/engine';
import { findTornPages, WriterGuest } from '@ferry/engine/testing';
import { faultProxy, type ProxiedFrame } from './fault-proxy.ts';
import { typeName } from './fault.ts';
import { flipSealed, sealLike } from './frame-seal.ts';
import { fillGuest } from './guest-fill.ts';
import type { HostileScenario } from './hostile-scenarios.ts';
import { GUEST_ID, sampleContext, trialDestination } from './hostile-kit.ts';
import { compareGuests } from './compare.ts';
import type { Comparison, Observation, SideEnd } from './observation.ts';
import { pausedBy, type RecordingSource, recordingSource } from './planes.ts';
import { RawPeer } from './raw-peer.ts';
import type { Rng } from './rng.ts';
import { ALL_TYPES, rawFrame, type SampleContext, sampleFrame, truncatedFrame, UNASSIGNED_TYPES } from './sample-frames.ts';
import { byDeadline, settle } from './settle.ts';
import { hangLimitMs, TIMEOUTS } from './trial-plan.ts';

/** A source guest that writes while it runs, and its migrations to whatever listens at a port. */
class GuestUnderTest {
  readonly memory: GuestMemory;
  readonly tracker: WriteBarrierTracker;
  readonly guest: WriterGuest;
  readonly plane: RecordingSource;
  readonly violations: string[] = [];
  private last: SideEnd = { end: 'none' };

  constructor(rng: Rng) {
    this.memory = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 8 * 2 ** 20 }] });
    fillGuest(this.memory, rng, 0.5);
    this.tracker = new WriteBarrierTracker(this.memory.layout);
    this.guest = new WriterGuest(this.memory, this.tracker, { pagesPerSec: 1000, workingSetFraction: 0.5, seed: rng.next() | 1 });
    this.plane = recordingSource(this.guest, rng.bytes(64));
  }

  /** One migration to `port`; a completed one, or one that is not a FerryError, or one past the hang limit, is noted. */
  async migrate(port: number, label: string, options: Partial<MigrateOptions> = {}, mayComplete = false): Promise<SideEnd> {
    await this.guest.ready;
    const end = await byDeadline(
      settle(
        migrate({
          host: '127.0.0.1',
          port,
          memory: this.memory,
          tracker: this.tracker,
          controlPlane: this.plane,
          guestId: GUEST_ID,
          ...TIMEOUTS,
          ...options,
        }),
      ),
      performance.now() + hangLimitMs(),
    );
    if (end.end === 'completed' && !mayComplete)
      this.violations.push(`${label}: the source completed a migration to a destination that lied`);
    if (
      end.end === 'failed' &&
      this.plane.calls.at(-1) === 'pause' &&
      !['FERRY_OUTCOME_UNKNOWN', 'FERRY_POSTCOPY_INTERRUPTED'].includes(end.code)
    ) {
      this.violations.push(`${label}: failed with ${end.code} and left the guest paused`);
    }
    this.last = end;
    return end;
  }

  async observe(started: number): Promise<Observation> {
    const paused = pausedBy(this.plane.calls);
    await this.guest.stop();
    return {
      source: {
        outcome: this.last,
        paused,
        resumed: this.plane.calls.includes('resume'),
        released: this.plane.calls.includes('release'),
        calls: this.plane.calls,
        tornPages: findTornPages(this.memory).length,
      },
      destination: { outcome: { end: 'none' }, resumed: false, calls: [] },
      crashes: [],
      leaks: [],
      destinationIsLiar: true,
      violations: this.violations,
      durationMs: performance.now() - started,
    };
  }
}

/** A fake destination: `answer` runs for each connection once its first frame (the HELLO) arrives. */
async function fakeDestination(answer: (peer: RawPeer, ctx: SampleContext) => Promise<void> | void, ctx: SampleContext) {
  const peers: RawPeer[] = [];
  const server = net.createServer((socket) => {
    const peer = RawPeer.accepted(socket);
    peers.push(peer);
    void peer.frame(0, TIMEOUTS.handshakeTimeoutMs * 2).then((hello) => (hello ? answer(peer, ctx) : undefined));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const p of peers) p.destroy();
        server.close(() => resolve());
      }),
  };
}

async function againstFake(
  rng: Rng,
  answers: readonly [string, (peer: RawPeer, ctx: SampleContext) => Promise<void> | void][],
): Promise<Observation> {
  const guest = new GuestUnderTest(rng);
  const ctx = await sampleContext(rng.bytes(16));
  const started = performance.now();
  for (const [label, answer] of answers) {
    const fake = await fakeDestination(answer, ctx);
    await guest.migrate(fake.port, label);
    await fake.close();
  }
  return guest.observe(started);
}

/** A real destination behind a proxy that rewrites what it says; the observation has the real destination's side. */
async function lyingDestination(
  rng: Rng,
  label: string,
  options: Partial<MigrateOptions>,
  lie: (f: ProxiedFrame, told: { count: number }) => Buffer[] | undefined,
): Promise<Observation> {
  const guest = new GuestUnderTest(rng);
  const d = await trialDestination(undefined, rng);
  const told = { count: 0 };
  const proxy = await faultProxy({ targetPort: d.port, rewrite: (f) => lie(f, told) });
  const started = performance.now();
  const end = await guest.migrate(proxy.port, label, options, true);
  if (told.count === 0) guest.violations.push(`${label}: the lie was never told`);
  const destinationEnd = await byDeadline(settle(d.destination.result), performance.now() + hangLimitMs());
  let comparison: Comparison | undefined;
  if (destinationEnd.end === 'completed') {
    const incoming = await d.destination.result;
    comparison = compareGuests(
      {
        pageSize: guest.memory.pageSize,
        regions: guest.memory.regions,
        deviceState: guest.plane.saved.at(-1) ?? new Uint8Array(0),
        guestId: GUEST_ID,
      },
      {
        pageSize: incoming.memory.pageSize,
        regions: incoming.memory.regions,
        deviceState: incoming.deviceState,
        guestId: incoming.guestId,
      },
    );
  }
  await proxy.close();
  await d.close();
  const observation = await guest.observe(started);
  return {
    ...observation,
    source: { ...observation.source, outcome: end },
    destination: { outcome: destinationEnd, resumed: d.plane.calls.includes('resume'), calls: d.plane.calls },
    // The source stopped its guest only after the comparison: a paused guest had not moved.
    ...(comparison && observation.source.paused && { comparison }),
  };
}

export async function againstSource(scenario: HostileScenario, rng: Rng): Promise<Observation> {
  switch (scenario) {
    case 'dest-garbage':
      return againstFake(rng, [['garbage', (p) => p.send(rng.bytes(rng.int(1, 4096)))]]);
    case 'dest-silent':
      return againstFake(rng, [['silent', () => {}]]);
    case 'dest-trickle':
      return againstFake(rng, [
        ['HELLO_ACCEPT a byte every 400 ms', (p, ctx) => void p.trickle(sampleFrame(M.HELLO_ACCEPT, rng, ctx), 1, 400)],
      ]);
    case 'dest-each-type': {
      const answers: [string, (peer: RawPeer, ctx: SampleContext) => void][] = [...ALL_TYPES, ...UNASSIGNED_TYPES]
        .filter((t) => t !== M.HELLO_ACCEPT)
        .map((type) => [`first answer ${typeName(type)}`, (p, ctx) => p.send(sampleFrame(type, rng, ctx))]);
      answers.push(
        ['HELLO_ACCEPT declaring 4 GiB', (p) => p.send(rawFrame(M.HELLO_ACCEPT, rng.bytes(8), 0xffff_ffff))],
        ['HELLO_ACCEPT cut short', (p, ctx) => p.send(truncatedFrame(sampleFrame(M.HELLO_ACCEPT, rng, ctx), rng.int(0, 7)))],
        [
          'HELLO_ACCEPT for version 9',
          (p) => p.send(encodeFrame(M.HELLO_ACCEPT, messages.helloAccept, { version: 9, maxFrameBodyBytes: 1 << 20 })),
        ],
        ['HELLO_ACCEPT then silence', (p, ctx) => p.send(sampleFrame(M.HELLO_ACCEPT, rng, ctx))],
      );
      return againstFake(rng, answers);
    }
    case 'dest-out-of-state': {
      const after = rng.pick([M.HELLO_ACCEPT, M.ROUND_ACK, M.READY]);
      const inject = rng.pick([...ALL_TYPES.filter((t) => t >= 0x80), ...UNASSIGNED_TYPES, M.PAGES, M.COMMIT]);
      const ctx = await sampleContext(rng.bytes(16));
      return lyingDestination(
        rng,
        `${typeName(inject)} after ${typeName(after)}`,
        { strategy: rng.pick(['precopy', 'postcopy'] as const) },
        (f, told) => {
          if (told.count > 0 || f.direction !== 'to-source' || f.type !== after) return undefined;
          told.count++;
          return [f.bytes, sealLike(f.bytes, sampleFrame(inject, rng, ctx))];
        },
      );
    }
    case 'liar-ready-digest':
      return lyingDestination(rng, 'READY with another digest', {}, (f, told) => {
        if (f.direction !== 'to-source' || f.type !== M.READY) return undefined;
        told.count++;
        return [flipSealed(f.bytes, rng.int(0, 7))];
      });
    case 'liar-round-ack':
      return lyingDestination(rng, 'ROUND_ACK with another count', {}, (f, told) => {
        if (told.count > 0 || f.direction !== 'to-source' || f.type !== M.ROUND_ACK) return undefined;
        told.count++;
        return [flipSealed(f.bytes, 4)];
      });
    case 'liar-resumed-early':
      return lyingDestination(rng, 'RESUMED instead of READY', {}, (f, told) => {
        if (f.direction !== 'to-source' || f.type !== M.READY) return undefined;
        told.count++;
        return [sealLike(f.bytes, encodeFrame(M.RESUMED, messages.resumed, { resumeMicros: 1, verifyMicros: 1 }))];
      });
    case 'liar-failed-after-commit':
      return lyingDestination(rng, 'FAILED instead of RESUMED', {}, (f, told) => {
        if (f.direction !== 'to-source' || f.type !== M.RESUMED) return undefined;
        told.count++;
        return [sealLike(f.bytes, encodeFrame(M.FAILED, messages.errorReport, { code: 'FERRY_CONNECTION_LOST', message: 'a lie' }))];
      });
    case 'liar-postcopy-done':
      return lyingDestination(rng, 'POSTCOPY_DONE with another digest', { strategy: 'postcopy' }, (f, told) => {
        if (f.direction !== 'to-source' || f.type !== M.POSTCOPY_DONE) return undefined;
        told.count++;
        return [flipSealed(f.bytes, rng.int(0, 7))];
      });
    case 'liar-page-request':
      return lyingDestination(rng, 'PAGE_REQUEST past the guest', { strategy: 'postcopy' }, (f, told) => {
        if (told.count > 0 || f.direction !== 'to-source' || f.type !== M.RESUMED) return undefined;
        told.count++;
        const page = rng.pick([2048, 2 ** 31, 0xffff_ffff]);
        const region = rng.pick([0, 1, 0xffff]);
        return [
          f.bytes,
          sealLike(f.bytes, encodeFrame(M.PAGE_REQUEST, messages.pageRequest, { region, page, count: rng.pick([1, 1024]) })),
        ];
      });
    default:
      throw new Error(`${scenario} is not a scenario against a source`);
  }
}
