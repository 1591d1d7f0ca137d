import { MessageType as M, PageEncoding } from '@ferry/engine';
import { check, expectFrame, expectReport, type SourceContext, type SourceScenario } from '../scenario.ts';
import { frame } from '../wire/frames.ts';
import { roundEndBody, u64Body } from '../wire/messages.ts';
import { encodePage, pagesBody } from '../wire/pages.ts';
import { open, type Session } from './session.ts';

/** Opens a session, lets `act` send something wrong, and expects FAILED with one of `codes` and a close. */
export function failing(
  id: string,
  title: string,
  clauses: string[],
  act: (s: Session) => Promise<unknown>,
  codes: string[],
  versionMax = 3,
): SourceScenario {
  return {
    id,
    role: 'source',
    title,
    clauses,
    ...(versionMax >= 4 && { requiresV4: true }),
    async run(ctx: SourceContext) {
      const s = await open(ctx, versionMax >= 4 ? { versionMin: 4, versionMax } : { versionMax });
      await act(s);
      return await expectReport(s.conn, M.FAILED, codes, ctx.replyTimeoutMs);
    },
  };
}

const firstPage = (s: Session): Uint8Array => pagesBody(0, 0, s.entries(0, [0], 'raw'));

export const faultScenarios: SourceScenario[] = [
  failing(
    'src-bad-checksum',
    'a PAGES frame whose CRC-32 trailer is wrong fails the migration (version 3)',
    ['FR-3'],
    (s) => s.conn.write(frame(M.PAGES, firstPage(s), { checked: true, corruptCrc: true })),
    ['FERRY_CHECKSUM_MISMATCH'],
  ),
  failing(
    'src-unchecked-in-v3',
    'a frame without CHECKED after HELLO_ACCEPT in a version 3 session fails the migration',
    ['FR-4'],
    (s) => s.conn.write(frame(M.ROUND_END, roundEndBody(0, 0))),
    ['FERRY_FRAME_MALFORMED'],
  ),
  failing(
    'src-checked-in-v2',
    'a CHECKED frame in a version 2 session fails the migration',
    ['FR-5'],
    (s) => s.conn.write(frame(M.ROUND_END, roundEndBody(0, 0), { checked: true })),
    ['FERRY_FRAME_MALFORMED'],
    2,
  ),
  failing(
    'src-oversized',
    'a frame declaring a body over maxFrameBodyBytes fails the migration before its body is sent',
    ['FR-2'],
    (s) => s.conn.write(frame(M.PAGES, Buffer.alloc(0), { declaredLength: s.accept.maxFrameBodyBytes + 1 }).subarray(0, 8)),
    ['FERRY_FRAME_TOO_LARGE'],
  ),
  failing(
    'src-page-out-of-range',
    'a PAGES entry for the page just past region 0 fails the migration',
    ['PG-2'],
    (s) => {
      const past = s.guest.pagesIn(0);
      const e = encodePage(s.k, past, s.guest.page(0, 0), PageEncoding.RAW);
      return s.conn.send(M.PAGES, pagesBody(0, 0, [...s.entries(0, [0], 'raw'), e]));
    },
    ['FERRY_PAGE_OUT_OF_RANGE'],
  ),
  failing(
    'src-page-checksum',
    'a RAW page whose xxh64 does not match its content fails the migration',
    ['PG-3'],
    (s) => {
      const e = encodePage(s.k, 0, s.guest.page(0, 0), PageEncoding.RAW);
      return s.conn.send(M.PAGES, pagesBody(0, 0, [{ ...e, checksum: e.checksum ^ 1n }]));
    },
    ['FERRY_CHECKSUM_MISMATCH'],
  ),
  failing(
    'src-round-mismatch',
    'version 4: a PAGES batch of round 5 during round 0 fails the migration',
    ['RD-2'],
    (s) => s.conn.send(M.PAGES, pagesBody(0, 5, s.entries(0, [0], 'raw'))),
    ['FERRY_UNEXPECTED_MESSAGE'],
    4,
  ),
  failing(
    'src-round-end-sequence',
    'version 4: a first ROUND_END for round 2 (round 0 expected) fails the migration',
    ['RD-2'],
    (s) => s.roundEnd(2, 0),
    ['FERRY_UNEXPECTED_MESSAGE'],
    4,
  ),
  failing(
    'src-commit-early',
    'COMMIT in receiving (no READY yet) fails the migration',
    ['SW-7'],
    (s) => s.conn.send(M.COMMIT, new Uint8Array(0)),
    ['FERRY_UNEXPECTED_MESSAGE'],
  ),
  failing(
    'src-echo-v1',
    'ECHO in a version 1 session fails the migration',
    ['RD-7'],
    (s) => s.conn.send(M.ECHO, u64Body(7)),
    ['FERRY_UNEXPECTED_MESSAGE'],
    1,
  ),
  {
    id: 'src-echo',
    role: 'source',
    title: 'ECHO in a version 2 session is answered with ECHO_REPLY carrying its token',
    clauses: ['RD-7'],
    async run(ctx) {
      const s = await open(ctx, { versionMin: 2, versionMax: 2 });
      await s.conn.send(M.ECHO, u64Body(0x1234_5678_9abc_def0n));
      const body = await expectFrame(s.conn, M.ECHO_REPLY, ctx.replyTimeoutMs);
      const token = body.readBigUInt64LE(0);
      check(
        body.byteLength === 8 && token === 0x1234_5678_9abc_def0n,
        `expected ECHO_REPLY token 0x123456789abcdef0, got 0x${token.toString(16)}`,
      );
      return s.migrate();
    },
  },
  {
    id: 'src-no-final-round-end',
    role: 'source',
    title: 'version 3: COMPLETE without the final ROUND_END is accepted',
    clauses: ['RD-5'],
    async run(ctx) {
      const s = await open(ctx, { versionMax: 3 });
      await s.precopy();
      await s.switchover(1, { finalRoundEnd: false });
      await s.commit();
      return 'READY and RESUMED without the final ROUND_END';
    },
  },
  failing(
    'src-dedup-never-sent',
    'a DEDUP entry referencing a page never sent (zero, not held) fails the migration',
    ['PG-5'],
    async (s) => {
      await s.precopy();
      // Page 3 is zero and was never sent: page 7 (zero too) as a copy of it names a page not received.
      const e = encodePage(s.k, 7, new Uint8Array(s.hello.pageSize), PageEncoding.DEDUP, { region: 0, page: 3 });
      await s.conn.send(M.PAGES, pagesBody(0, 1, [e]));
    },
    ['FERRY_DECODE_FAILED'],
  ),
];
