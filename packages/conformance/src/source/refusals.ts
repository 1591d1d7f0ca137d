import { Feature, Intent, MessageType as M } from '@ferry/engine';
import { expectReport, fail, type SourceContext, type SourceScenario } from '../scenario.ts';
import { Conn } from '../wire/conn.ts';
import { frame } from '../wire/frames.ts';
import { roundEndBody } from '../wire/messages.ts';
import { type HelloOptions, open, prove, sendHello } from './session.ts';

/** Sends a HELLO bent by `o` and expects HELLO_REJECT with one of `codes`. */
async function refused(ctx: SourceContext, o: HelloOptions, codes: string[]): Promise<string> {
  const h = await sendHello(ctx, o);
  const conn = h.conn;
  // A keyed destination may prove the key before it judges the HELLO (§3.4: admission comes after step 4).
  const first = await conn.next(ctx.replyTimeoutMs);
  if (first.kind === 'frame' && first.type === M.AUTH_CHALLENGE && (h.hello.features & Feature.PSK_AUTH) !== 0) {
    await prove(ctx, h, first.body, false);
  } else {
    conn.unshift(first);
  }
  return await expectReport(conn, M.HELLO_REJECT, codes, ctx.replyTimeoutMs);
}

function refusal(id: string, title: string, clauses: string[], o: (ctx: SourceContext) => HelloOptions, codes: string[]): SourceScenario {
  return { id, role: 'source', title, clauses, run: (ctx) => refused(ctx, o(ctx), codes) };
}

export const refusalScenarios: SourceScenario[] = [
  refusal('src-refuse-magic', 'a HELLO with a wrong magic is refused', ['HS-4'], () => ({ magic: Buffer.from('FERRYXXX') }), [
    'FERRY_BAD_MAGIC',
  ]),
  refusal('src-refuse-version', 'a HELLO offering versions 90..99 only is refused', ['HS-2'], () => ({ versionMin: 90, versionMax: 99 }), [
    'FERRY_VERSION_UNSUPPORTED',
  ]),
  refusal(
    'src-refuse-page-size',
    'a HELLO with a page size the destination does not run is refused',
    ['HS-5'],
    (ctx) => {
      const pageSize = ctx.layout.pageSize === 8192 ? 16384 : 8192;
      return {
        layout: {
          pageSize,
          regions: ctx.layout.regions.map((r) => ({ name: r.name, sizeBytes: Math.ceil(r.sizeBytes / pageSize) * pageSize })),
        },
      };
    },
    ['FERRY_INCOMPATIBLE_GUEST', 'FERRY_REJECTED'],
  ),
  refusal(
    'src-refuse-bad-layout',
    'a HELLO whose region size is not a multiple of the page size is refused',
    ['HS-5'],
    (ctx) => ({ layout: { pageSize: ctx.layout.pageSize, regions: [{ name: 'ram0', sizeBytes: ctx.layout.pageSize * 4 + 1 }] } }),
    ['FERRY_INCOMPATIBLE_GUEST', 'FERRY_FRAME_MALFORMED'],
  ),
  refusal(
    'src-refuse-layout',
    'a HELLO with another region layout than the destination expects is refused',
    ['HS-6'],
    (ctx) => ({
      layout: { pageSize: ctx.layout.pageSize, regions: [...ctx.layout.regions, { name: 'extra', sizeBytes: ctx.layout.pageSize * 16 }] },
    }),
    ['FERRY_REJECTED', 'FERRY_INCOMPATIBLE_GUEST'],
  ),
  refusal('src-refuse-intent', 'a HELLO with intent 9 is refused', ['HS-7'], () => ({ intent: 9 }), [
    'FERRY_FRAME_MALFORMED',
    'FERRY_INCOMPATIBLE_GUEST',
    'FERRY_REJECTED',
  ]),
  refusal(
    'src-refuse-feature',
    'a version 1..3 HELLO with an unknown feature bit (0x100) is refused',
    ['HS-8'],
    () => ({ versionMax: 3, features: 0x100 }),
    ['FERRY_INCOMPATIBLE_GUEST'],
  ),
  refusal(
    'src-recover-unknown',
    'a RECOVER HELLO for a session the destination never saw is refused',
    ['RC-2'],
    () => ({ intent: Intent.RECOVER, features: Feature.RESUMABLE }),
    ['FERRY_REJECTED'],
  ),
  refusal(
    'src-channel-unknown',
    'a CHANNEL HELLO for a session the destination never saw is refused',
    ['CH-2'],
    () => ({ intent: Intent.CHANNEL, features: Feature.CHANNELS }),
    ['FERRY_REJECTED'],
  ),
  {
    id: 'src-refuse-unread',
    role: 'source',
    title: 'a refused HELLO (bad magic) followed at once by 1 MiB the destination never reads: the refusal still arrives',
    clauses: ['HS-4', 'HS-14'],
    async run(ctx) {
      const { conn } = await sendHello(ctx, { magic: Buffer.from('FERRYXXX'), auth: false });
      // Pipelined bytes the destination will not read: a close with them unread resets the connection, which may
      // destroy the HELLO_REJECT in flight unless the destination shuts down its side and drains first.
      void conn.write(Buffer.alloc(1024 * 1024, 0x5a));
      // The bytes after HELLO are no frame: either fault may be named; what matters is that the refusal arrives.
      return await expectReport(conn, M.HELLO_REJECT, ['FERRY_BAD_MAGIC', 'FERRY_UNKNOWN_MESSAGE'], ctx.replyTimeoutMs);
    },
  },
  {
    id: 'src-first-not-hello',
    role: 'source',
    title: 'a connection whose first frame is ROUND_END is refused',
    clauses: ['HS-1'],
    async run(ctx) {
      const conn = await Conn.connect(ctx.host, ctx.port);
      await conn.write(frame(M.ROUND_END, roundEndBody(0, 0)));
      return await expectReport(conn, M.HELLO_REJECT, ['FERRY_UNEXPECTED_MESSAGE'], ctx.replyTimeoutMs);
    },
  },
  {
    id: 'src-unknown-type',
    role: 'source',
    title: 'a first frame of unassigned type 0x20 is refused',
    clauses: ['FR-1', 'HS-1'],
    async run(ctx) {
      const conn = await Conn.connect(ctx.host, ctx.port);
      await conn.write(frame(0x20, Buffer.alloc(4)));
      return await expectReport(conn, M.HELLO_REJECT, ['FERRY_UNKNOWN_MESSAGE'], ctx.replyTimeoutMs);
    },
  },
  {
    id: 'src-oversized-hello',
    role: 'source',
    title: 'a HELLO declaring a body over 64 KiB is refused before it is read',
    clauses: ['FR-2'],
    async run(ctx) {
      const conn = await Conn.connect(ctx.host, ctx.port);
      // Only the header goes out: a receiver that waited for the body would time out here.
      await conn.write(frame(M.HELLO, Buffer.alloc(0), { declaredLength: 64 * 1024 + 1 }));
      return await expectReport(conn, M.HELLO_REJECT, ['FERRY_FRAME_TOO_LARGE'], ctx.replyTimeoutMs);
    },
  },
  {
    id: 'src-pipelined',
    role: 'source',
    title: 'a ROUND_END pipelined right behind HELLO, before HELLO_ACCEPT, is refused',
    clauses: ['HS-9'],
    async run(ctx) {
      const { conn } = await sendHello(ctx, {});
      await conn.write(frame(M.ROUND_END, roundEndBody(0, 0)));
      return await expectReport(conn, M.HELLO_REJECT, ['FERRY_UNEXPECTED_MESSAGE'], ctx.replyTimeoutMs);
    },
  },
  {
    id: 'src-refused-then-migrate',
    role: 'source',
    title: 'after a refused pipelined HELLO, the same destination takes a whole migration',
    clauses: ['HS-9', 'HS-13'],
    async run(ctx) {
      const { conn } = await sendHello(ctx, {});
      await conn.write(frame(M.ROUND_END, roundEndBody(0, 0)));
      await expectReport(conn, M.HELLO_REJECT, ['FERRY_UNEXPECTED_MESSAGE'], ctx.replyTimeoutMs);
      const s = await open(ctx);
      return `refused, then ${await s.migrate()}`;
    },
  },
  {
    id: 'src-psk-unkeyed',
    role: 'source',
    title: 'an unkeyed destination refuses a HELLO with PSK_AUTH',
    clauses: ['AU-3'],
    psk: 'no-key',
    run: (ctx) => refused(ctx, { auth: true }, ['FERRY_INCOMPATIBLE_GUEST']),
  },
  {
    id: 'src-psk-required',
    role: 'source',
    title: 'a keyed destination refuses a HELLO without PSK_AUTH',
    clauses: ['AU-3'],
    psk: 'key',
    run: (ctx) => refused(ctx, { auth: false }, ['FERRY_AUTH_REQUIRED']),
  },
  {
    id: 'src-psk',
    role: 'source',
    title: 'a keyed migration: the destination proves the key, accepts the proof, and the migration completes',
    clauses: ['AU-1', 'SW-1'],
    psk: 'key',
    async run(ctx) {
      const s = await open(ctx, { auth: true });
      return s.migrate();
    },
  },
  {
    id: 'src-psk-bad-proof',
    role: 'source',
    title: 'a wrong AUTH_PROOF is refused',
    clauses: ['AU-2'],
    psk: 'key',
    async run(ctx) {
      try {
        await open(ctx, { auth: true, badProof: true });
      } catch (err) {
        if ((err as Error).message.includes('HELLO_REJECT FERRY_AUTH_FAILED')) return 'HELLO_REJECT FERRY_AUTH_FAILED';
        throw err;
      }
      fail('expected HELLO_REJECT FERRY_AUTH_FAILED after a wrong AUTH_PROOF, got HELLO_ACCEPT');
    },
  },
];
