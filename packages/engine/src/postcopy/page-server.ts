/** The source's post-copy page server: requested pages first, the rest pushed behind them. */
import type { BatchEncoder, EncodedBatch } from '../codec/batch-encoder.ts';
import type { DirtyBitmap } from '../dirty/bitmap.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import type { Pacer } from '../transport/pacer.ts';
import type { FrameTransport } from '../transport/transport.ts';
import type { Clock } from '../util/clock.ts';
import { logger } from '../util/log.ts';

const log = logger('postcopy');

/** Background frames allowed in the socket's user-space queue: what a requested page may wait behind. */
const BACKGROUND_IN_FLIGHT = 2;

export interface PageServerStats {
  /** PAGE_REQUESTs received. */
  readonly requests: number;
  /** Pages sent because the destination asked for them. */
  readonly requestedPages: number;
  /** Pages pushed in the background. */
  readonly pushedPages: number;
  /** Requests for pages already sent (they crossed a push on the wire). */
  readonly lateRequests: number;
}

/**
 * The source's side of post-copy, once the guest runs on the destination: answers page
 * requests at once, ahead of everything not yet queued, and pushes the remaining missing pages
 * in the background, a few small frames at a time so a requested page never waits behind much
 * bulk. With pre-paging the push continues right after the last requested page (guests touch
 * memory in runs), else in address order. Memory is frozen (the source guest is paused for
 * good), so every page goes exactly once.
 */
export class PageServer {
  private readonly memory: GuestMemory;
  private transport: FrameTransport;
  private readonly encoder: BatchEncoder;
  private readonly round: number;
  private readonly prepaging: boolean;
  private readonly pacer: Pacer | undefined;
  /** Pages not sent yet, per region. */
  private missing: readonly DirtyBitmap[];
  private remaining: number;
  private cursorRegion = 0;
  private cursorPage = 0;
  private inFlight = 0;
  private wake: (() => void) | undefined;
  private requests = 0;
  private requestedPages = 0;
  private pushedPages = 0;
  private lateRequests = 0;
  /** Bumped on every new connection: write callbacks of an older one no longer count. */
  private generation = 0;
  /** Requests that came while the connection was down, answered once it is back. */
  private pendingRequests: [number, number, number][] = [];

  constructor(o: {
    memory: GuestMemory;
    transport: FrameTransport;
    encoder: BatchEncoder;
    round: number;
    missing: readonly DirtyBitmap[];
    prepaging?: boolean;
    /** Paces the background push (requested pages go at once, but count against it). */
    pacer?: Pacer;
    clock: Clock;
  }) {
    this.pacer = o.pacer;
    this.memory = o.memory;
    this.transport = o.transport;
    this.encoder = o.encoder;
    this.round = o.round;
    this.prepaging = o.prepaging ?? true;
    this.missing = o.missing;
    this.remaining = o.missing.reduce((n, b) => n + b.count(), 0);
  }

  get pagesLeft(): number {
    return this.remaining;
  }

  stats(): PageServerStats {
    return {
      requests: this.requests,
      requestedPages: this.requestedPages,
      pushedPages: this.pushedPages,
      lateRequests: this.lateRequests,
    };
  }

  /** A PAGE_REQUEST: sends what of `[page, page + count)` is still missing, now. Range checked by the caller. */
  request(region: number, page: number, count: number): void {
    if (this.transport.closed) {
      this.pendingRequests.push([region, page, count]);
      return;
    }
    this.requests++;
    if (log.enabled) log('page request: region %d page %d (+%d)', region, page, count);
    const missing = this.missing[region]!;
    const end = Math.min(page + count, missing.bitCount);
    const first = missing.nextSet(page);
    if (first < 0 || first >= end) {
      this.lateRequests++;
      return;
    }
    for (let from = first; from >= 0 && from < end; ) {
      const { sent, nextFrom } = this.sendFrom(region, from, end, false);
      this.requestedPages += sent;
      from = sent === 0 ? -1 : nextFrom;
    }
    if (this.prepaging) {
      this.cursorRegion = region;
      this.cursorPage = end;
    }
    this.wake?.();
  }

  /**
   * Continues on a new connection after the old one broke: `missing` is what the destination
   * says it still lacks (pages in flight on the old connection may have been lost, so this
   * replaces our own record). Requests that came meanwhile are answered now.
   */
  resume(transport: FrameTransport, missing: readonly DirtyBitmap[]): void {
    this.transport = transport;
    this.missing = missing;
    this.remaining = missing.reduce((n, b) => n + b.count(), 0);
    this.generation++;
    this.inFlight = 0;
    const pending = this.pendingRequests;
    this.pendingRequests = [];
    for (const [r, p, c] of pending) this.request(r, p, c);
    this.wake?.();
  }

  /** Pushes every missing page; resolves once all are queued. Requests are served meanwhile. */
  async run(): Promise<void> {
    // A run ends with its connection: `resume` starts the next one.
    const generation = this.generation;
    const over = (): boolean => generation !== this.generation || this.transport.closed;
    while (this.remaining > 0) {
      if (over()) return;
      if (this.inFlight >= BACKGROUND_IN_FLIGHT) {
        await new Promise<void>((resolve) => {
          this.wake = resolve;
        });
        this.wake = undefined;
        continue;
      }
      // Pace before encoding, on the batch's largest size: pages are taken from `missing` only
      // when they go, so a request during the wait is still served at once.
      const reserved = this.encoder.batchPages * (this.memory.pageSize + 20);
      const waitMs = this.pacer?.reserve(reserved) ?? 0;
      if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
      if (over()) return;
      const { region, page } = this.nextMissing();
      if (region < 0) return;
      const { sent, bytes } = this.sendFrom(region, page, this.missing[region]!.bitCount, true);
      this.pushedPages += sent;
      // Paid for a full batch of raw pages: zero pages, compression and a short batch cost less.
      this.pacer?.refund(reserved - bytes);
      // Let requests in between pushes.
      if (this.inFlight >= BACKGROUND_IN_FLIGHT) continue;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  /** The first missing page at or after the cursor, wrapping around regions. */
  private nextMissing(): { region: number; page: number } {
    const n = this.missing.length;
    for (let k = 0; k <= n; k++) {
      const r = (this.cursorRegion + k) % n;
      const from = k === 0 ? this.cursorPage : 0;
      const p = this.missing[r]!.nextSet(from);
      if (p >= 0) {
        this.cursorRegion = r;
        this.cursorPage = p;
        return { region: r, page: p };
      }
    }
    return { region: -1, page: -1 };
  }

  /**
   * Encodes one batch of the missing pages of `region` from `from` on, below `end` (the
   * requested range's end, or the region's for the push), writes it, and clears those pages
   * from `missing`. Returns the pages sent and the next missing page below `end` (-1: none).
   */
  private sendFrom(region: number, from: number, end: number, background: boolean): { sent: number; nextFrom: number; bytes: number } {
    const r = this.memory.regions[region]!;
    const missing = this.missing[region]!;
    const { batch, nextFrom } = this.encoder.next(r, region, missing, from, this.round, false, end);
    if (!batch) return { sent: 0, nextFrom: -1, bytes: 0 };
    // The batch holds every missing page from `from` up to the next one it left (or `end`).
    const upTo = nextFrom < 0 ? end : Math.min(nextFrom, end);
    const sent = batch.pages;
    missing.clearRange(from, upTo);
    this.remaining -= sent;
    if (background) {
      this.inFlight++;
      this.cursorRegion = region;
      this.cursorPage = upTo;
    }
    const generation = this.generation;
    this.transport.write(batch.frame, () => this.written(batch, background && generation === this.generation));
    return { sent, nextFrom: nextFrom >= end ? -1 : nextFrom, bytes: batch.frame.byteLength };
  }

  private written(batch: EncodedBatch, background: boolean): void {
    this.encoder.release(batch);
    if (background) {
      this.inFlight--;
      this.wake?.();
    }
  }
}
