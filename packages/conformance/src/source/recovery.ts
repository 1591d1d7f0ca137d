import { Feature, Intent, MessageType as M } from '@ferry/engine';
import { check, describe, fail, type SourceScenario } from '../scenario.ts';
import { parseMissing, parseU64 } from '../wire/messages.ts';
import { pagesBody } from '../wire/pages.ts';
import { open, type PageRef } from './session.ts';

const STRIPE_PAGES = 256;

export const recoveryScenarios: SourceScenario[] = [
  {
    id: 'src-recover-precopy',
    role: 'source',
    title:
      'RESUMABLE pre-copy: the connection breaks mid-round; a RECOVER reconnection names the missing pages and the migration completes',
    clauses: ['RC-1'],
    async run(ctx) {
      const first = await open(ctx, { features: Feature.RESUMABLE, optional: 'RESUMABLE' });
      const pages = first.nonZeroPages();
      const half = pages.slice(0, Math.floor(pages.length / 2));
      await first.sendPages(0, half);
      // Let the destination take what was sent, then break the connection without a word.
      await new Promise((r) => setTimeout(r, 200));
      first.conn.socket.resetAndDestroy();
      await new Promise((r) => setTimeout(r, 200));
      const s = await open(ctx, { features: Feature.RESUMABLE, intent: Intent.RECOVER, sessionId: first.hello.sessionId });
      const named = new Set<string>();
      for (;;) {
        const e = await s.conn.next(ctx.replyTimeoutMs);
        if (e.kind !== 'frame') fail(`expected RECOVER_MISSING or RECOVER_END, got ${describe(e)}`);
        if (e.type === M.RECOVER_MISSING) {
          const m = parseMissing(e.body);
          for (const p of m.pages) named.add(`${m.region}:${p}`);
          continue;
        }
        if (e.type !== M.RECOVER_END) fail(`expected RECOVER_MISSING or RECOVER_END, got ${describe(e)}`);
        const total = parseU64(e.body, 'RECOVER_END');
        check(total === BigInt(named.size), `expected RECOVER_END with the ${named.size} pages RECOVER_MISSING named, got ${total}`);
        break;
      }
      const sent = new Set(half.map((p) => `${p.region}:${p.page}`));
      const never = pages.filter((p) => !sent.has(`${p.region}:${p.page}`));
      const unnamed = never.filter((p) => !named.has(`${p.region}:${p.page}`));
      check(
        unnamed.length === 0,
        `expected RECOVER_MISSING to name every page never sent (${never.length}), ${unnamed.length} not named (first ${unnamed[0]?.region}:${unnamed[0]?.page})`,
      );
      // Round 0 was never acknowledged: send all of it again, with the named zero pages, counted afresh.
      const resend = new Map<string, PageRef>(pages.map((p) => [`${p.region}:${p.page}`, p]));
      for (const key of named) {
        const [region, page] = key.split(':').map(Number) as [number, number];
        resend.set(key, { region, page });
      }
      const list = [...resend.values()].sort((a, b) => a.region - b.region || a.page - b.page);
      const n = await s.sendPages(0, list, 'zero');
      await s.roundEnd(0, n);
      await s.expectAck(0, n);
      await s.switchover(1);
      await s.commit();
      return `RECOVER_MISSING named ${named.size} pages; completed after the reconnection`;
    },
  },
  {
    id: 'src-channels',
    role: 'source',
    title: 'CHANNELS: one extra data channel; pages striped over both connections are counted in one ROUND_ACK',
    clauses: ['CH-1', 'RD-1'],
    async run(ctx) {
      const s = await open(ctx, { features: Feature.CHANNELS, optional: 'CHANNELS' });
      const ch = await open(ctx, { features: Feature.CHANNELS, intent: Intent.CHANNEL, sessionId: s.hello.sessionId });
      const conns = [s.conn, ch.conn];
      // Global page keys: regions back to back; key k travels on channel floor(k / 256) mod 2.
      let base = 0;
      let total = 0;
      for (let r = 0; r < s.guest.memory.length; r++) {
        const n = s.guest.pagesIn(r);
        for (let stripe = Math.floor(base / STRIPE_PAGES); stripe * STRIPE_PAGES < base + n; stripe++) {
          const from = Math.max(base, stripe * STRIPE_PAGES) - base;
          const to = Math.min(base + n, (stripe + 1) * STRIPE_PAGES) - base;
          const pages: number[] = [];
          for (let p = from; p < to; p++) if (!s.guest.isZero(r, p)) pages.push(p);
          for (let i = 0; i < pages.length; i += s.batchPages) {
            const chunk = pages.slice(i, i + s.batchPages);
            await conns[stripe % 2]!.send(M.PAGES, pagesBody(r, 0, s.entries(r, chunk, 'raw')));
            total += chunk.length;
          }
        }
        base += n;
      }
      await s.roundEnd(0, total);
      await s.expectAck(0, total);
      await s.switchover(1, { dirty: 0 });
      ch.conn.end();
      await s.commit();
      return `${total} pages over 2 connections, one ROUND_ACK, RESUMED`;
    },
  },
];
