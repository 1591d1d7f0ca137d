/** Pre-copy's rounds on the wire: every dirty page in paced PAGES batches, then ROUND_END, feeding the link monitor. */
import type { BatchEncoder } from '../codec/batch-encoder.ts';
import { DirtyBitmap } from '../dirty/bitmap.ts';
import type { DirtyTracker } from '../dirty/tracker.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import { STRIPE_PAGES } from '../protocol/limits.ts';
import { encode, Msg } from '../protocol/registry.ts';
import type { MigrationEvent } from '../session/events.ts';
import type { RoundStats } from '../session/report.ts';
import type { RoundAcks } from '../session/round-acks.ts';
import type { Pacer } from '../transport/pacer.ts';
import type { FrameTransport } from '../transport/transport.ts';
import type { Clock } from '../util/clock.ts';
import { runDelayMs } from '../util/run-delay.ts';
import type { DowntimePrediction } from '../estimate/downtime.ts';
import type { BatchDelivery, LinkMonitor, LinkView } from '../estimate/link-monitor.ts';
import { PageKeys } from '../memory/page-keys.ts';
import { logger } from '../util/log.ts';

const log = logger('precopy');

/** Pages whose live dirty bits are taken at a time during a round: 256 bitmap words. */
export const TAKE_WINDOW_PAGES = 8192;
/** Minimum spacing of `progress` events. */
const PROGRESS_INTERVAL_MS = 100;

export interface RoundSenderOptions {
  readonly memory: GuestMemory;
  readonly tracker: DirtyTracker;
  readonly transport: FrameTransport;
  readonly encoder: BatchEncoder;
  /** What the sender measures of the link, fed here and read by the encoder (give it the same one), predictor and policy. */
  readonly link: LinkMonitor;
  /** Where each round's ROUND_END is recorded, and its acknowledgement reported. */
  readonly acks: RoundAcks;
  readonly pacer: Pacer;
  readonly clock: Clock;
  /** Milliseconds since the migration started, for the round table. */
  readonly elapsedMs: () => number;
  readonly emit: (event: MigrationEvent) => void;
  /** Keep each unacknowledged round's pages, for resending after a lost connection (`precopyRecoveryMs`). */
  readonly keepUnacknowledged?: boolean;
  /** Throws when the migration was cancelled; called between batches. */
  readonly checkAborted: () => void;
}

/**
 * Sends pre-copy rounds: every page set in a round's bitmaps, in PAGES batches, paced and with
 * backpressure, then a ROUND_END. Records what each round did (pages, bytes), feeds the link
 * monitor every batch, gap, round and new connection, and remembers, per round, the pages sent
 * and when ROUND_END left, for the acknowledgements.
 */
export class RoundSender {
  private readonly o: RoundSenderOptions;
  private readonly roundTable: RoundStats[] = [];
  private sentPages = 0;
  /** The dirty rate the source last measured, for progress events. */
  private dirtyRate = 0;
  private lastProgressMs = 0;
  private bytesOnEarlierConnections = 0;
  private transport: FrameTransport;
  /** Extra data channels (the control connection is channel 0); empty with one channel. */
  private dataChannels: readonly FrameTransport[] = [];
  /** First global page key of each region, for striping pages over channels. */
  private readonly keys: PageKeys;
  /** Per round not yet acknowledged, the pages it sent (per region): what a lost connection may have lost. */
  private readonly unacknowledged = new Map<number, DirtyBitmap[]>();

  constructor(options: RoundSenderOptions) {
    this.o = options;
    this.transport = options.transport;
    this.keys = new PageKeys(options.memory.layout);
    options.acks.onAcknowledged((round) => this.acknowledged(round));
  }

  /** What each round did, in order. */
  get rounds(): readonly RoundStats[] {
    return this.roundTable;
  }
  /** Pages put on the wire in every round so far. */
  get pagesSent(): number {
    return this.sentPages;
  }
  /** The link as the rounds measured it: per-round figures, windows of continuous sending, raw windows. */
  get link(): LinkView {
    return this.o.link;
  }

  /** The dirty rate the source measured at its last sync, shown in progress events. */
  noteDirtyRate(pagesPerSec: number): void {
    this.dirtyRate = pagesPerSec;
  }

  /**
   * Sends pages over the control connection and these extra channels: global page key k goes
   * on channel floor(k / STRIPE_PAGES) mod (1 + channels.length), so every copy of a page takes
   * the same channel and copies of a page stay in order.
   */
  setDataChannels(channels: readonly FrameTransport[]): void {
    this.dataChannels = channels;
  }

  /** Bytes handed to every channel (earlier connections included), and still queued in user space on every channel. */
  private written(): number {
    let n = this.bytesOnEarlierConnections + this.transport.bytesWritten;
    for (const c of this.dataChannels) n += c.bytesWritten;
    return n;
  }
  private queued(): number {
    let n = this.transport.queuedBytes;
    for (const c of this.dataChannels) n += c.queuedBytes;
    return n;
  }

  /** Continues on a new connection (pre-copy recovery). */
  setTransport(transport: FrameTransport): void {
    // Progress counts what left on the broken connection too: it never runs backwards.
    this.bytesOnEarlierConnections += this.transport.bytesWritten;
    this.transport = transport;
    this.o.link.newConnection();
  }

  /** The destination acknowledged `round` (and so every round before it). */
  private acknowledged(round: number): void {
    for (const r of this.unacknowledged.keys()) if (r <= round) this.unacknowledged.delete(r);
  }

  /**
   * After a lost connection: ORs into `dirty` every page of the rounds the destination had not
   * acknowledged (their frames may have been lost) and forgets them. The interrupted round's
   * own pages are still in `dirty` for regions it had not finished.
   */
  takeUnacknowledged(dirty: readonly DirtyBitmap[]): number {
    let n = 0;
    for (const pages of this.unacknowledged.values()) {
      for (let r = 0; r < pages.length; r++) n += dirty[r]!.or(pages[r]!);
    }
    this.unacknowledged.clear();
    return n;
  }

  /**
   * Sends every page set in `dirty` (then clears it) and a ROUND_END. Round 0 leaves zero
   * pages out: the destination starts from zeroed memory. Outside the final round, live dirty
   * bits are taken just before each stretch is sent (`DirtyTracker.syncRange`), so a page
   * rewritten since the round's sync goes once, with its newest content.
   */
  async send(
    dirty: readonly DirtyBitmap[],
    round: number,
    dirtyPages: number,
    prediction: DowntimePrediction | undefined,
    final: boolean,
  ): Promise<RoundStats> {
    const { memory, tracker, encoder, pacer, clock, link } = this.o;
    const transport = this.transport;
    // Only kept when a lost connection may be recovered: a bitmap copy per region and round.
    const sent = this.o.keepUnacknowledged ? memory.regions.map((r) => new DirtyBitmap(r.pageCount)) : undefined;
    if (sent) this.unacknowledged.set(round, sent);
    const skipZero = round === 0;
    const roundStart = clock.nowMs();
    const delayAtStart = runDelayMs();
    const bytesAtStart = this.written();
    const flushedAtStart = this.written() - this.queued();
    const channelCount = 1 + this.dataChannels.length;
    this.o.emit({ type: 'round-start', round, dirtyPages, final });
    let pages = 0;
    let zeroPages = 0;
    for (let r = 0; r < memory.regions.length; r++) {
      const region = memory.regions[r]!;
      const bitmap = dirty[r]!;
      let from = 0;
      // Only whole words at or after the cursor are taken: a bit taken behind it would never be sent.
      let takenUpTo = 0;
      while (from >= 0) {
        this.o.checkAborted();
        if (!final && tracker.syncRange && from + encoder.batchPages > takenUpTo) {
          const start = Math.max(takenUpTo, Math.ceil(from / 32) * 32);
          const end = Math.min(region.pageCount, start + TAKE_WINDOW_PAGES);
          if (end > start) tracker.syncRange(r, start, end, bitmap);
          takenUpTo = end;
        }
        let channel = transport;
        let limit = Number.POSITIVE_INFINITY;
        if (channelCount > 1) {
          // A batch stays within one stripe: the stripe decides the channel.
          const first = bitmap.nextSet(from);
          if (first < 0) break;
          from = first;
          const stripe = Math.floor(this.keys.key(r, first) / STRIPE_PAGES);
          limit = (stripe + 1) * STRIPE_PAGES - this.keys.first(r);
          const c = stripe % channelCount;
          channel = c === 0 ? transport : this.dataChannels[c - 1]!;
        }
        const { batch, nextFrom, zeroPages: zeros } = encoder.next(region, r, bitmap, from, round, skipZero, limit);
        from = nextFrom;
        // Zero pages count whether they went as ZERO entries or, in round 0, were left out.
        zeroPages += zeros;
        if (!batch) continue;
        pages += batch.pages;
        const waitMs = pacer.reserve(batch.frame.byteLength);
        if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
        if (!channel.write(batch.frame, () => encoder.release(batch))) await channel.drain();
        const delivered: BatchDelivery = {
          pages: batch.pages,
          wireBytes: batch.frame.byteLength,
          compressed: batch.compressed,
          flushedBytes: this.written() - this.queued(),
          capBytesPerSec: pacer.rate,
        };
        link.batch(delivered, clock.nowMs());
        this.maybeProgress(round, pages, dirtyPages, this.written() - bytesAtStart, roundStart);
      }
      if (sent) sent[r]!.or(bitmap);
      bitmap.clearAll();
    }
    this.sentPages += pages;
    link.idle();
    this.o.acks.ended(round, pages);
    await transport.send(encode(Msg.ROUND_END, { round, pages }));
    const durationMs = Math.max(clock.nowMs() - roundStart, 0.001);
    const bytesSent = this.written() - bytesAtStart;
    // Bandwidth from bytes that left user space; with a bounded queue this tracks the link's
    // rate. The monitor keeps the old figures after rounds too small to fill the pipe, and a cap
    // bounds them whatever a burst of the token bucket made one round look like.
    const flushedBytes = this.written() - this.queued() - flushedAtStart;
    link.roundEnded({ flushedBytes, durationMs, waitedMs: runDelayMs() - delayAtStart, capBytesPerSec: pacer.rate });
    const stats: RoundStats = {
      round,
      final,
      dirtyPages,
      pagesSent: pages,
      zeroPages,
      bytesSent,
      durationMs,
      bandwidthBytesPerSec: link.bandwidthBytesPerSec,
      predictedDowntimeMs: prediction?.totalMs ?? null,
      ...(prediction && { prediction }),
      elapsedMs: this.o.elapsedMs(),
    };
    this.roundTable.push(stats);
    log(
      'round %d%s: %d pages (%d zero) of %d dirty, %d bytes in %s ms, %s MB/s',
      round,
      final ? ' (final)' : '',
      pages,
      zeroPages,
      dirtyPages,
      bytesSent,
      durationMs.toFixed(1),
      (stats.bandwidthBytesPerSec / 1e6).toFixed(1),
    );
    this.o.emit({ type: 'round-end', stats });
    return stats;
  }

  private maybeProgress(round: number, pagesSent: number, roundPages: number, bytes: number, roundStart: number): void {
    const now = this.o.clock.nowMs();
    if (now - this.lastProgressMs < PROGRESS_INTERVAL_MS) return;
    this.lastProgressMs = now;
    const elapsed = Math.max(now - roundStart, 0.001);
    const rate = (bytes / elapsed) * 1000;
    const bytesPerPage = pagesSent > 0 ? bytes / pagesSent : this.o.memory.pageSize;
    const remaining = Math.max(roundPages - pagesSent, 0) * bytesPerPage;
    this.o.emit({
      type: 'progress',
      round,
      pagesSent,
      roundPages,
      bytesSent: bytes,
      totalBytesSent: this.written(),
      bandwidthBytesPerSec: rate,
      dirtyPagesPerSec: this.dirtyRate,
      roundRemainingBytes: remaining,
      roundEtaMs: rate > 0 ? (remaining / rate) * 1000 : Number.POSITIVE_INFINITY,
    });
  }
}
