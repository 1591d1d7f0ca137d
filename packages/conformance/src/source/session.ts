import { randomBytes } from 'node:crypto';
import { Feature, Intent, type Kernels, MessageType as M, PageEncoding } from '@ferry/engine';
import { check, checkCrc, describe, expectFrame, fail, type Layout, type SourceContext, skip } from '../scenario.ts';
import { Conn } from '../wire/conn.ts';
import { frame } from '../wire/frames.ts';
import { kernels } from '../wire/kernels.ts';
import {
  type Accept,
  completeBody,
  deviceStateBody,
  type Hello,
  helloBody,
  parseAccept,
  parseReport,
  parseRoundAck,
  parseU64,
  roundEndBody,
  u32Body,
} from '../wire/messages.ts';
import { encodePage, type PageEntry, pagesBody } from '../wire/pages.ts';
import { pskProof } from '../wire/psk.ts';
import { KitGuest } from './guest.ts';

/** How the kit encodes a round's pages. */
export type Mode = 'raw' | 'zero' | 'lz4' | 'xbzrle' | 'dedup';
export interface PageRef {
  readonly region: number;
  readonly page: number;
}

export interface HelloOptions {
  readonly versionMin?: number;
  readonly versionMax?: number;
  readonly features?: number;
  readonly intent?: number;
  readonly sessionId?: Uint8Array;
  readonly layout?: Layout;
  readonly magic?: Uint8Array;
  /** Authenticate with the context's key (default: when one is given). */
  readonly auth?: boolean;
  /** The optional feature this HELLO asks for: a refusal with FERRY_INCOMPATIBLE_GUEST skips the scenario. */
  readonly optional?: string;
  /** Send this AUTH_PROOF instead of the right one. */
  readonly badProof?: boolean;
}

/** Connects and sends HELLO (and AUTH_SOURCE when authenticating); reads nothing. */
export async function sendHello(ctx: SourceContext, o: HelloOptions = {}): Promise<{ conn: Conn; hello: Hello; body: Buffer; ns: Buffer }> {
  const auth = o.auth ?? ctx.psk !== undefined;
  const hello: Hello = {
    versionMin: o.versionMin ?? 1,
    versionMax: o.versionMax ?? 3,
    intent: o.intent ?? Intent.MIGRATE,
    sessionId: o.sessionId ?? randomBytes(16),
    pageSize: (o.layout ?? ctx.layout).pageSize,
    features: (o.features ?? 0) | (auth ? Feature.PSK_AUTH : 0),
    regions: (o.layout ?? ctx.layout).regions,
    ...(o.magic && { magic: o.magic }),
  };
  const body = helloBody(hello);
  const conn = await Conn.connect(ctx.host, ctx.port);
  const ns = randomBytes(32);
  await conn.write(frame(M.HELLO, body));
  if (auth) await conn.write(frame(M.AUTH_SOURCE, ns));
  return { conn, hello, body, ns };
}

/** Checks AUTH_CHALLENGE's proof (AU-1) and answers AUTH_PROOF (wrong on purpose with `bad`). */
export async function prove(
  ctx: SourceContext,
  h: { conn: Conn; hello: Hello; body: Buffer; ns: Buffer },
  challenge: Buffer,
  bad: boolean,
): Promise<void> {
  check(challenge.byteLength === 64, `expected a 64-byte AUTH_CHALLENGE, got ${challenge.byteLength} bytes`);
  const nd = challenge.subarray(0, 32);
  const key = ctx.psk ?? Buffer.alloc(32);
  const want = pskProof(key, 'destination', h.hello.sessionId, h.body, h.ns, nd);
  check(
    want.equals(challenge.subarray(32)),
    'AUTH_CHALLENGE carries a proof that is not HMAC-SHA-256(K, "ferry/1 destination" ‖ …) (§3.4)',
  );
  const proof = pskProof(key, 'source', h.hello.sessionId, h.body, h.ns, nd);
  if (bad) proof[0]! ^= 0xff;
  await h.conn.write(frame(M.AUTH_PROOF, proof));
}

/** HELLO up to HELLO_ACCEPT, the PSK exchange included; fails the scenario on anything else. */
export async function open(ctx: SourceContext, o: HelloOptions = {}): Promise<Session> {
  const { conn, hello, body, ns } = await sendHello(ctx, o);
  if ((hello.features & Feature.PSK_AUTH) !== 0) {
    const challenge = await expectFrame(conn, M.AUTH_CHALLENGE, ctx.replyTimeoutMs);
    await prove(ctx, { conn, hello, body, ns }, challenge, o.badProof ?? false);
  }
  const e = await conn.next(ctx.replyTimeoutMs);
  if (o.optional && e.kind === 'frame' && e.type === M.HELLO_REJECT && parseReport(e.body).code === 'FERRY_INCOMPATIBLE_GUEST') {
    // Features are optional: a destination that does not implement one refuses its bit (§3.1).
    skip(`the destination does not take ${o.optional} (${describe(e)})`);
  }
  if (e.kind !== 'frame' || e.type !== M.HELLO_ACCEPT) fail(`expected HELLO_ACCEPT, got ${describe(e)}`);
  check(e.flags === 0, `HELLO_ACCEPT must not be CHECKED (it precedes the checksums), flags are 0x${e.flags.toString(16)}`);
  let accept: ReturnType<typeof parseAccept>;
  try {
    accept = parseAccept(e.body);
  } catch (err) {
    fail(`HELLO_ACCEPT does not decode: ${(err as Error).message}`);
  }
  check(
    accept.version >= hello.versionMin && accept.version <= hello.versionMax,
    `expected HELLO_ACCEPT with a version in ${hello.versionMin}..${hello.versionMax}, got ${accept.version}`,
  );
  conn.checked = accept.version >= 3;
  return new Session(ctx, conn, hello, accept, await kernels());
}

/** One accepted migration, driven by the kit as a source. */
export class Session {
  readonly guest: KitGuest;
  /** The kit's model of what the destination holds (XBZRLE bases, DEDUP sources). */
  private readonly held: Uint8Array[];
  private readonly receivedPages = new Set<string>();
  readonly version: number;
  constructor(
    readonly ctx: SourceContext,
    readonly conn: Conn,
    readonly hello: Hello,
    readonly accept: Accept,
    readonly k: Kernels,
  ) {
    this.guest = new KitGuest({ pageSize: hello.pageSize, regions: hello.regions });
    this.held = this.guest.memory.map((m) => new Uint8Array(m.byteLength));
    this.version = accept.version;
  }

  /** Every page of the guest that is not zero (zero pages need not be sent, PG-4). */
  nonZeroPages(): PageRef[] {
    const out: PageRef[] = [];
    for (let r = 0; r < this.guest.memory.length; r++)
      for (let p = 0; p < this.guest.pagesIn(r); p++) if (!this.guest.isZero(r, p)) out.push({ region: r, page: p });
    return out;
  }
  allPages(): PageRef[] {
    const out: PageRef[] = [];
    for (let r = 0; r < this.guest.memory.length; r++) for (let p = 0; p < this.guest.pagesIn(r); p++) out.push({ region: r, page: p });
    return out;
  }

  /** Pages per batch: at most 64, and within the destination's maxFrameBodyBytes. */
  get batchPages(): number {
    return Math.max(1, Math.min(64, Math.floor((this.accept.maxFrameBodyBytes - 12) / (this.hello.pageSize + 20))));
  }

  /** Entries for `pages` of one region in `mode`; DEDUP references page 1 when the destination holds it. */
  entries(region: number, pages: readonly number[], mode: Mode): PageEntry[] {
    const ps = this.hello.pageSize;
    return pages.map((p) => {
      const content = this.guest.page(region, p);
      const held = this.held[region]!.subarray(p * ps, (p + 1) * ps);
      let enc: number = PageEncoding.RAW;
      const zero = this.guest.isZero(region, p);
      if (zero && mode !== 'raw') enc = PageEncoding.ZERO;
      else if (mode === 'lz4') enc = PageEncoding.LZ4;
      else if (mode === 'xbzrle' && this.receivedPages.has(`${region}:${p}`)) enc = PageEncoding.XBZRLE;
      else if (mode === 'dedup' && this.guest.isCopyOfPage1(p) && this.receivedPages.has(`${region}:1`)) enc = PageEncoding.DEDUP;
      return encodePage(this.k, p, content, enc, { region, page: 1 }, held);
    });
  }

  /** Sends pages as PAGES batches of `round` (DEDUP copies last, in their own batch) and returns how many. */
  async sendPages(round: number, pages: readonly PageRef[], mode: Mode = 'raw'): Promise<number> {
    const byRegion = new Map<number, number[]>();
    for (const { region, page } of pages) byRegion.set(region, [...(byRegion.get(region) ?? []), page]);
    for (const [region, list] of byRegion) {
      const copies = mode === 'dedup' ? list.filter((p) => this.guest.isCopyOfPage1(p)) : [];
      const rest = list.filter((p) => !copies.includes(p));
      for (const group of [rest, copies]) {
        for (let i = 0; i < group.length; i += this.batchPages) {
          const chunk = group.slice(i, i + this.batchPages);
          await this.conn.send(M.PAGES, pagesBody(region, round, this.entries(region, chunk, mode)));
          this.markHeld(region, chunk);
        }
      }
    }
    return pages.length;
  }

  markHeld(region: number, pages: readonly number[]): void {
    const ps = this.hello.pageSize;
    for (const p of pages) {
      this.held[region]!.set(this.guest.page(region, p), p * ps);
      this.receivedPages.add(`${region}:${p}`);
    }
  }

  async roundEnd(round: number, pages: number): Promise<void> {
    await this.conn.send(M.ROUND_END, roundEndBody(round, pages));
  }

  /** Waits for ROUND_ACK of `round` and checks its page count (RD-1); bytesReceived is informative only. */
  async expectAck(round: number, pages: number): Promise<void> {
    const body = await expectFrame(this.conn, M.ROUND_ACK, this.ctx.replyTimeoutMs, [M.ECHO_REPLY]);
    const ack = parseRoundAck(body);
    check(
      ack.round === round && ack.pages === pages,
      `expected ROUND_ACK round ${round} with ${pages} pages, got round ${ack.round} with ${ack.pages} pages`,
    );
  }

  /** Round 0: every non-zero page, ROUND_END, and its ROUND_ACK. */
  async precopy(mode: Mode = 'raw'): Promise<number> {
    const n = await this.sendPages(0, mode === 'zero' ? this.allPages() : this.nonZeroPages(), mode);
    await this.roundEnd(0, n);
    await this.expectAck(0, n);
    return n;
  }

  /** The switchover up to READY: final round `round` of dirtied pages, device state, COMPLETE. Returns READY's digest. */
  async switchover(
    round: number,
    o: { mode?: Mode; finalRoundEnd?: boolean; dirty?: number } = {},
  ): Promise<{ digest: bigint; finalAck: boolean }> {
    const dirty = this.guest.dirty(o.dirty ?? 8, round);
    await this.conn.send(M.SWITCHOVER, u32Body(round));
    const n = await this.sendPages(round, dirty, o.mode ?? 'raw');
    if (o.finalRoundEnd ?? true) await this.roundEnd(round, n);
    const state = Buffer.from('conformance device state');
    await this.conn.send(M.DEVICE_STATE, deviceStateBody(state.byteLength, 0, state));
    const digest = this.guest.digest(this.k);
    await this.conn.send(M.COMPLETE, completeBody(this.version >= 3 ? 0n : digest, this.guest.totalPages, round));
    // The final round's ROUND_ACK may come before READY (RD-1); ECHO_REPLY may too.
    let finalAck = false;
    for (;;) {
      const e = await this.conn.next(this.ctx.replyTimeoutMs);
      if (e.kind === 'frame' && e.type === M.ROUND_ACK) {
        checkCrc(this.conn, e);
        const ack = parseRoundAck(e.body);
        check(
          ack.round === round && ack.pages === n,
          `expected the final ROUND_ACK round ${round} with ${n} pages, got round ${ack.round} with ${ack.pages}`,
        );
        finalAck = true;
        continue;
      }
      if (e.kind === 'frame' && e.type === M.ECHO_REPLY) continue;
      if (e.kind !== 'frame' || e.type !== M.READY) fail(`expected READY, got ${describe(e)}`);
      checkCrc(this.conn, e);
      const ready = parseU64(e.body, 'READY');
      check(ready === digest, `expected READY with the digest of the memory sent, 0x${digest.toString(16)}, got 0x${ready.toString(16)}`);
      return { digest: ready, finalAck };
    }
  }

  /** COMMIT, RESUMED, and the kit closes first (SW-3). */
  async commit(): Promise<void> {
    await this.conn.send(M.COMMIT, new Uint8Array(0));
    const body = await expectFrame(this.conn, M.RESUMED, this.ctx.replyTimeoutMs, [M.ROUND_ACK]);
    check(body.byteLength === 8, `expected an 8-byte RESUMED, got ${body.byteLength} bytes`);
    this.conn.end();
  }

  /** The whole happy path: round 0, a final round 1, COMMIT, RESUMED. */
  async migrate(o: { mode?: Mode; finalMode?: Mode; requireFinalAck?: boolean } = {}): Promise<string> {
    const sent = await this.precopy(o.mode ?? 'raw');
    const { finalAck } = await this.switchover(1, { mode: o.finalMode ?? o.mode ?? 'raw' });
    if (o.requireFinalAck ?? true) check(finalAck, 'expected ROUND_ACK for the final round (1) before READY, got READY without it');
    await this.commit();
    return `version ${this.version}: ${sent} pages in round 0, digest matched, RESUMED`;
  }
}

/** The version the destination picks from 1..4 (asked with a PROBE, nothing allocated). */
export async function discoverVersion(ctx: SourceContext): Promise<number> {
  const s = await open(ctx, { versionMin: 1, versionMax: 4, intent: Intent.PROBE });
  s.conn.destroy();
  return s.version;
}
