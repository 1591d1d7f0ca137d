import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { GuestMemory } from '../../src/memory/guest-memory.ts';
import { MessageType, PROTOCOL_VERSION } from '../../src/protocol/constants.ts';
import { frameProxy } from '../harness/frame-proxy.ts';
import { listenSink, sourceHost } from '../harness/index.ts';
import { pageBytes } from './vectors/content.ts';
import { GUEST } from './vectors/pages.ts';
import { DIGEST_PAGES } from './vectors/psk.ts';
import { pagesSent, RawFrames, type RecordedFrame, recordFrame, stable, type Transcript } from './vectors/transcript.ts';
import { VECTORS_DIR } from './vectors-gen.ts';

/**
 * Recorded pre-copy and post-copy migrations of a tiny deterministic guest at every protocol version (1 to 4)
 * (packages/conformance/vectors/sessions/vN-precopy.json and vN-postcopy.json), replayed both ways against today's
 * engine: the recorded source against today's destination, and the recorded destination against
 * today's source. So a peer that speaks only an older version still interoperates.
 *
 * Record again with `FERRY_RECORD=1 npx vitest run packages/engine/test/protocol/sessions.test.ts`:
 * a proxy between today's source and destination records every frame, and lowers the HELLO's
 * versionMax to the version recorded (the source then speaks what the destination chose).
 */
const SESSIONS_DIR = `${VECTORS_DIR}sessions/`;
/** Every version the engine speaks; a version without a recording yet (a new one) is skipped until recorded. */
const VERSIONS: readonly number[] = Array.from({ length: PROTOCOL_VERSION }, (_, i) => i + 1);
const DEVICE_STATE = Buffer.from('ferry device state v1');
/** Pre-copy (rounds, switchover) and pure post-copy (missing map, then pages after COMMIT). */
const STRATEGIES = ['precopy', 'postcopy'] as const;
type Strategy = (typeof STRATEGIES)[number];
const SESSIONS = VERSIONS.flatMap((version) => STRATEGIES.map((strategy) => ({ version, strategy })));
const fileOf = (version: number, strategy: Strategy): string => `${SESSIONS_DIR}v${version}-${strategy}.json`;

function tinyGuest(): GuestMemory {
  const memory = GuestMemory.create(GUEST);
  for (const p of DIGEST_PAGES) memory.page(p.region, p.page).set(pageBytes(p.content, GUEST.pageSize));
  return memory;
}

async function record(version: number, strategy: Strategy): Promise<Transcript> {
  const destination = await listenSink();
  const frames: RecordedFrame[] = [];
  const proxy = await frameProxy(destination.port, ({ direction, type, bytes }) => {
    let out = bytes;
    if (direction === 'to-destination' && type === MessageType.HELLO) {
      out = Buffer.from(bytes);
      out.writeUInt16LE(version, 8 + 10); // versionMax: the version to record
    }
    frames.push(recordFrame(direction, out, GUEST.pageSize));
    return out === bytes ? 'pass' : { replace: out };
  });
  const source = await sourceHost({ memory: tinyGuest(), deviceState: DEVICE_STATE });
  await source.migrateTo(proxy.port, { strategy });
  await destination.result;
  return {
    version,
    description: `A complete ${strategy} migration at protocol version ${version}, recorded between Ferry's source and destination. Frames in the order they crossed a proxy; a replay ignores the fields named in \`timing\`. The HELLO is shown as the destination received it (versionMax ${version}).`,
    guest: GUEST,
    pages: DIGEST_PAGES,
    deviceState: DEVICE_STATE.toString('hex'),
    frames,
  };
}

const load = (version: number, strategy: Strategy): Transcript => JSON.parse(readFileSync(fileOf(version, strategy), 'utf8')) as Transcript;

/** Checks `actual` (raw bytes) against the recorded frame, ignoring its timing fields and `also`. */
function expectLike(actualBytes: Buffer | undefined, recorded: RecordedFrame, also: readonly string[] = []): void {
  expect(actualBytes, `expected ${recorded.message}, the connection ended`).toBeDefined();
  const actual = recordFrame(recorded.direction, actualBytes!, GUEST.pageSize);
  expect(actual.message).toBe(recorded.message);
  const ignore = [...(recorded.timing ?? []), ...also];
  expect(stable(actual.fields, ignore), recorded.message).toEqual(stable(recorded.fields, ignore));
  if (recorded.timing === undefined && also.length === 0) expect(actual.hex).toBe(recorded.hex);
}

describe.runIf(process.env.FERRY_RECORD === '1')('recording sessions', () => {
  for (const { version, strategy } of SESSIONS) {
    it(`records a complete ${strategy} migration at version ${version}`, async () => {
      const t = await record(version, strategy);
      expect(t.frames.find((f) => f.message === 'HELLO_ACCEPT')?.fields.version).toBe(version);
      mkdirSync(SESSIONS_DIR, { recursive: true });
      writeFileSync(fileOf(version, strategy), `${JSON.stringify(t, null, 2)}\n`);
    });
  }
});

describe.skipIf(process.env.FERRY_RECORD === '1')('recorded sessions replayed against today’s engine', () => {
  for (const { version, strategy } of SESSIONS) {
    const recorded = existsSync(fileOf(version, strategy));
    it.runIf(recorded)(
      `v${version} ${strategy}: the recorded source's frames get the recorded answers from today's destination`,
      async () => {
        const t = load(version, strategy);
        const destination = await listenSink();
        const socket = net.connect(destination.port, '127.0.0.1');
        onTestFinished(() => void socket.destroy());
        const replies = new RawFrames(socket);
        for (const frame of t.frames) {
          if (frame.direction === 'to-destination') socket.write(Buffer.from(frame.hex, 'hex'));
          else expectLike(await replies.next(), frame);
        }
        const incoming = await destination.result;
        expect(Buffer.from(incoming.deviceState).toString('hex')).toBe(t.deviceState);
        for (const p of DIGEST_PAGES) {
          expect(Buffer.compare(Buffer.from(incoming.memory.page(p.region, p.page)), pageBytes(p.content, GUEST.pageSize))).toBe(0);
        }
      },
    );

    it.runIf(recorded)(
      `v${version} ${strategy}: today's source, answered with the recorded destination's frames, sends the recorded frames`,
      async () => {
        const t = load(version, strategy);
        const server = net.createServer();
        onTestFinished(() => void server.close());
        const script = new Promise<void>((resolve, reject) => {
          server.once('connection', (socket) => {
            const frames = new RawFrames(socket);
            void (async () => {
              for (const frame of t.frames) {
                if (frame.direction === 'to-source') socket.write(Buffer.from(frame.hex, 'hex'));
                // Today's source offers its own versions: only the HELLO_ACCEPT chooses.
                else expectLike(await frames.next(), frame, frame.message === 'HELLO' ? ['versionMax'] : []);
              }
            })().then(resolve, reject);
          });
        });
        await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
        const source = await sourceHost({ memory: tinyGuest(), deviceState: DEVICE_STATE });
        const report = source.migrateTo((server.address() as net.AddressInfo).port, { strategy });
        await script;
        await expect(report).resolves.toMatchObject({ pagesSent: pagesSent(t.frames) });
        expect(source.plane.calls).toEqual(['pause', 'saveDeviceState', 'release']);
      },
    );
  }
});
