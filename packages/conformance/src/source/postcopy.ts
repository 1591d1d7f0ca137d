import { Feature, MessageType as M } from '@ferry/engine';
import { check, describe, expectFrame, expectReport, fail, type SourceScenario } from '../scenario.ts';
import { completeBody, deviceStateBody, missingBody, parseU64, u32Body } from '../wire/messages.ts';
import { failing } from './faults.ts';
import { open } from './session.ts';

export const postcopyScenarios: SourceScenario[] = [
  {
    id: 'src-postcopy',
    role: 'source',
    title: 'post-copy after one pre-copy round: READY 0, RESUMED, the rest pushed, POSTCOPY_DONE with the digest',
    clauses: ['PC-1'],
    async run(ctx) {
      const s = await open(ctx, { features: Feature.POSTCOPY, optional: 'POSTCOPY' });
      const pages = s.nonZeroPages();
      const half = pages.filter((_, i) => i % 2 === 0);
      const n = await s.sendPages(0, half);
      await s.roundEnd(0, n);
      await s.expectAck(0, n);
      const sent = new Set(half.map((p) => `${p.region}:${p.page}`));
      const missing = pages.filter((p) => !sent.has(`${p.region}:${p.page}`));
      await s.conn.send(M.POSTCOPY_ENTER, u32Body(1));
      for (let r = 0; r < s.guest.memory.length; r++) {
        const list = missing.filter((p) => p.region === r).map((p) => p.page);
        await s.conn.send(M.POSTCOPY_MISSING, missingBody(r, 0, s.guest.pagesIn(r), list));
      }
      const state = Buffer.from('post-copy device state');
      await s.conn.send(M.DEVICE_STATE, deviceStateBody(state.byteLength, 0, state));
      const ready = parseU64(await expectFrame(s.conn, M.READY, ctx.replyTimeoutMs, [M.ROUND_ACK]), 'READY');
      check(ready === 0n, `expected READY with digest 0 in post-copy (nothing can be verified yet), got 0x${ready.toString(16)}`);
      await s.conn.send(M.COMMIT, new Uint8Array(0));
      // Page requests may come before or after RESUMED; the kit pushes every missing page anyway.
      await expectFrame(s.conn, M.RESUMED, ctx.replyTimeoutMs, [M.PAGE_REQUEST]);
      await s.sendPages(1, missing);
      const digest = s.guest.digest(s.k);
      await s.conn.send(M.COMPLETE, completeBody(digest, s.guest.totalPages, 1));
      const e = await s.conn.nextSkipping(ctx.replyTimeoutMs, [M.PAGE_REQUEST, M.ROUND_ACK]);
      if (e.kind !== 'frame' || e.type !== M.POSTCOPY_DONE) fail(`expected POSTCOPY_DONE, got ${describe(e)}`);
      const done = parseU64(e.body, 'POSTCOPY_DONE');
      check(done === digest, `expected POSTCOPY_DONE with the digest 0x${digest.toString(16)}, got 0x${done.toString(16)}`);
      s.conn.end();
      return `${missing.length} pages after COMMIT, POSTCOPY_DONE digest matched`;
    },
  },
  failing(
    'src-postcopy-not-offered',
    'POSTCOPY_ENTER in a session whose HELLO did not set POSTCOPY fails the migration',
    ['PC-2'],
    (s) => s.conn.send(M.POSTCOPY_ENTER, u32Body(0)),
    ['FERRY_UNEXPECTED_MESSAGE'],
  ),
  {
    id: 'src-postcopy-missing-range',
    role: 'source',
    title: 'POSTCOPY_MISSING past the region’s end fails the migration',
    clauses: ['PC-3'],
    async run(ctx) {
      const s = await open(ctx, { features: Feature.POSTCOPY, optional: 'POSTCOPY' });
      await s.conn.send(M.POSTCOPY_ENTER, u32Body(0));
      const pages = s.guest.pagesIn(0);
      await s.conn.send(M.POSTCOPY_MISSING, missingBody(0, pages - 1, 2, [pages - 1, pages]));
      return await expectReport(s.conn, M.FAILED, ['FERRY_PAGE_OUT_OF_RANGE'], ctx.replyTimeoutMs);
    },
  },
];
