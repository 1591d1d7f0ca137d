/**
 * Strangers at a destination's door: garbage, an HTTP request, a TLS ClientHello, every message
 * type as a first frame, HELLOs cut short, oversized or malformed, idle connections, a HELLO one
 * byte at a time, a recorded handshake replayed, a wrong key. Each must be refused with a typed
 * error and closed within twice the handshake timeout, and a real source must then still get its
 * guest across byte for byte.
 */
import { ErrorCode, Feature, Intent, limits, MessageType as M } from '@ferry/engine';
import { faultProxy } from './fault-proxy.ts';
import { typeName } from './fault.ts';
import type { HostileScenario } from './hostile-scenarios.ts';
import { observeMigration, realSource, trialDestination } from './hostile-kit.ts';
import { DOOR_LIMIT_MS, door, stranger, trickleLimitMs } from './hostile-stranger.ts';
import type { Observation } from './observation.ts';
import type { Rng } from './rng.ts';
import { ALL_TYPES, helloFrame, rawFrame, sampleFrame, truncatedFrame, UNASSIGNED_TYPES } from './sample-frames.ts';
import { byDeadline } from './settle.ts';

export async function atTheDoor(scenario: HostileScenario, rng: Rng): Promise<Observation> {
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
    default:
      throw new Error(`${scenario} is not a scenario at the door`);
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
