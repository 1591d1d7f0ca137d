import { Feature, MessageType as M } from '@ferry/engine';
import { describe, fail, type SourceContext, type SourceScenario } from '../scenario.ts';
import type { Conn } from '../wire/conn.ts';
import { frame, typeName } from '../wire/frames.ts';
import { parseReport, reportBody, u32Body } from '../wire/messages.ts';
import { open, type Session, sendHello } from './session.ts';

/**
 * After ABORT the destination answers nothing or FAILED(FERRY_ABORTED) (nothing, no HELLO_REJECT,
 * in the handshake), and closes (SW-6). Acknowledgements still in flight are allowed.
 */
async function expectAborted(conn: Conn, ms: number): Promise<string> {
  const until = Date.now() + ms;
  let said = 'nothing';
  for (;;) {
    const e = await conn.next(Math.max(1, until - Date.now()));
    if (e.kind === 'closed') return `answered ${said}, then closed`;
    if (e.kind === 'timeout') fail(`expected the destination to close after ABORT, it stayed open for ${ms} ms (having answered ${said})`);
    if (e.type === M.ROUND_ACK || e.type === M.ECHO_REPLY || e.type === M.AUTH_CHALLENGE) continue;
    if (e.type === M.FAILED) {
      const r = parseReport(e.body);
      if (r.code !== 'FERRY_ABORTED') fail(`expected FAILED FERRY_ABORTED or nothing after ABORT, got ${typeName(e.type)} ${r.code}`);
      said = `${typeName(e.type)} FERRY_ABORTED`;
      continue;
    }
    fail(`expected FAILED FERRY_ABORTED or nothing after ABORT, got ${describe(e)}`);
  }
}

const abortBody = (): Buffer => reportBody('FERRY_ABORTED', 'conformance kit: ABORT');

function aborting(id: string, state: string, before: (s: Session) => Promise<unknown>): SourceScenario {
  return {
    id,
    role: 'source',
    title: `ABORT in state ${state}: the destination discards and closes`,
    clauses: ['SW-6'],
    async run(ctx: SourceContext) {
      const s = await open(ctx);
      await before(s);
      await s.conn.send(M.ABORT, abortBody());
      return await expectAborted(s.conn, ctx.replyTimeoutMs);
    },
  };
}

export const abortScenarios: SourceScenario[] = [
  {
    id: 'src-abort-handshake',
    role: 'source',
    title: 'ABORT in the handshake (after AUTH_SOURCE, before AUTH_PROOF): the destination closes',
    clauses: ['SW-6'],
    psk: 'key',
    async run(ctx) {
      const { conn } = await sendHello(ctx, { features: Feature.PSK_AUTH });
      await conn.write(frame(M.ABORT, abortBody()));
      return await expectAborted(conn, ctx.replyTimeoutMs);
    },
  },
  aborting('src-abort-accepted', 'receiving, before any page', async () => {}),
  aborting('src-abort-receiving', 'receiving, after pages and a ROUND_END', async (s) => {
    await s.precopy();
  }),
  aborting('src-abort-switchover', 'switchover (after SWITCHOVER and final pages)', async (s) => {
    await s.precopy();
    await s.conn.send(M.SWITCHOVER, u32Body(1));
    await s.sendPages(1, s.guest.dirty(4, 1));
  }),
  aborting('src-abort-ready', 'ready (after READY, instead of COMMIT)', async (s) => {
    await s.precopy();
    await s.switchover(1);
  }),
];
