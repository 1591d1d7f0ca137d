/** PAGES frames from guest memory: each page's encoding chosen, payloads packed in place, frame buffers pooled. */
import type { Kernels } from '../accel/kernels.ts';
import type { DirtyBitmap } from '../dirty/bitmap.ts';
import { LinkMonitor, type LinkView } from '../estimate/link-monitor.ts';
import type { MemoryLayout } from '../memory/layout.ts';
import { PageKeys } from '../memory/page-keys.ts';
import type { MemoryRegion } from '../memory/guest-memory.ts';
import { ALL_ENCODINGS, MessageType, PageEncoding } from '../protocol/constants.ts';
import { writeFrameHeader } from '../protocol/frame.ts';
import { DEDUP_PAYLOAD_BYTES, FRAME_HEADER_BYTES, PAGE_ENTRY_BYTES, PAGES_HEADER_BYTES } from '../protocol/limits.ts';
import { pagesBodyBytes, writePageEntry, writePagesHeader } from '../protocol/pages.ts';
import { type Clock, systemClock } from '../util/clock.ts';
import { decayingMax, ewma } from '../util/smoothing.ts';
import { lz4Pays } from './chooser.ts';
import { type CompressionMode, ENCODING_NAMES, type EncodingName, encodingsUsed } from './encodings.ts';
import { DedupIndex } from './dedup-index.ts';
import { lz4CompressPage } from './lz4.ts';
import { calibrateLz4 } from './lz4-calibration.ts';
import { PageCache } from './page-cache.ts';
import { PeerCopies } from './peer-copies.ts';

/** Pages per PAGES frame by default: 256 x 4 KiB = 1 MiB of payload. */
export const DEFAULT_BATCH_PAGES = 256;

/** Frame buffers kept for reuse: the transport's 4 MiB queue plus a few in the kernel's hands. */
const MAX_POOLED_FRAMES = 16;

/** When LZ4's speed alone rules it out, every this many batches one is compressed whole to re-measure. */
const SPEED_PROBE_EVERY = 16;

/** Default XBZRLE cache, as QEMU's xbzrle-cache-size. */
export const DEFAULT_XBZRLE_CACHE_BYTES: number = 64 * 1024 * 1024;

/** Slots of the dedup index at most (16 bytes each). */
const DEDUP_MAX_SLOTS = 1 << 20;

export type { CompressionMode } from './encodings.ts';

export interface EncoderOptions {
  readonly compression?: CompressionMode;
  readonly batchPages?: number;
  /** Size of the source's XBZRLE cache. Default 64 MiB. */
  readonly xbzrleCacheBytes?: number;
  /** An XBZRLE delta longer than this fraction of a page falls back to another encoding. Default 0.5. */
  readonly xbzrleMaxFraction?: number;
  readonly clock?: Clock;
  /**
   * The link LZ4 is weighed against (its cap and raw windows' measured rate, `LinkMonitor`),
   * fed by whoever sends the batches. Default: one nobody feeds (uncapped, unmeasured).
   */
  readonly link?: LinkView;
  /** The encodings the destination decodes (HELLO_ACCEPT, version 4), bit `1 << encoding` each. Default all. */
  readonly encodings?: number;
}

/** What the encodings did, for the report. */
export interface CodecStats {
  readonly mode: CompressionMode;
  /** Pages sent per encoding. */
  readonly pages: Record<'raw' | 'zero' | 'lz4' | 'xbzrle' | 'dedup', number>;
  /** Payload bytes per encoding (entries not included). */
  readonly payloadBytes: Record<'raw' | 'zero' | 'lz4' | 'xbzrle' | 'dedup', number>;
  readonly xbzrleCache: { readonly hits: number; readonly misses: number; readonly overflows: number; readonly fallbacks: number };
  /** Measured LZ4 speed and ratio (0 until LZ4 has run). */
  readonly lz4BytesPerSec: number;
  readonly lz4Ratio: number;
  /** The link rate LZ4 was last weighed against: the cap, or raw windows' measured rate. */
  readonly linkBytesPerSec: number;
}

export interface EncodedBatch {
  /** The whole frame, header included, ready to write; a view of a pooled buffer. */
  readonly frame: Buffer;
  /** The pooled buffer behind `frame`: hand it back with `release` once written. */
  readonly buffer: Buffer;
  readonly pages: number;
  /** Some page went out LZ4-compressed (the link meter leaves such batches out). */
  readonly compressed: boolean;
}

/**
 * Builds PAGES frames from guest memory. Per batch: copy the pages into the frame's payload run
 * (the copy is the snapshot; the guest may keep writing its own memory), hash and zero-scan the
 * copy in one kernel call, then walk the pages once, choosing each page's encoding and moving
 * its payload left over what earlier pages saved. Every encoding is at most a page long, so the
 * write position never passes the page being read. Checksums are of the page content as
 * copied. No allocation per page except LZ4's output buffer.
 */
export class BatchEncoder {
  private readonly pageSize: number;
  private readonly kernels: Kernels;
  readonly batchPages: number;
  readonly mode: CompressionMode;
  private readonly clock: Clock;
  private readonly indices: Uint32Array;
  private readonly hashes: BigUint64Array;
  /** The same hashes as 32-bit halves, to key the dedup index without making a BigInt. */
  private readonly hashWords: Uint32Array;
  private readonly zeroBits: Uint32Array;
  private readonly regionBuffers = new Map<MemoryRegion, Buffer>();
  private readonly pool: Buffer[] = [];
  private readonly frameCapacity: number;
  /** First global page key of each region: keys index the cache, the dedup index and the peer's copies. */
  private readonly keys: PageKeys;
  /** What the destination holds, as far as the pages sent say. */
  private readonly peer: PeerCopies;
  private readonly cache: PageCache | undefined;
  private readonly dedup: DedupIndex | undefined;
  private readonly deltaOut: Uint8Array;
  /** LZ4 for every page (`true`), never (`false`), or as the cost model decides per batch. */
  private readonly lz4Mode: boolean | undefined;
  private xbzrleFallbacks = 0;
  private lz4BytesPerSec = 0;
  private lz4Ratio = 0;
  private speedProbes = 0;
  /** The link as the sender measures it: the cap, raw windows' rate, and when a window must go raw. */
  private readonly link: LinkView;
  private readonly pagesBy: Record<EncodingName, number> = { raw: 0, zero: 0, lz4: 0, xbzrle: 0, dedup: 0 };
  private readonly bytesBy: Record<EncodingName, number> = { raw: 0, zero: 0, lz4: 0, xbzrle: 0, dedup: 0 };

  constructor(layout: MemoryLayout, kernels: Kernels, options: EncoderOptions = {}) {
    const ps = layout.pageSize;
    this.pageSize = ps;
    this.kernels = kernels;
    this.mode = options.compression ?? 'off';
    this.clock = options.clock ?? systemClock;
    this.link = options.link ?? new LinkMonitor();
    this.batchPages = options.batchPages ?? DEFAULT_BATCH_PAGES;
    this.indices = new Uint32Array(this.batchPages);
    this.hashes = new BigUint64Array(this.batchPages);
    this.hashWords = new Uint32Array(this.hashes.buffer);
    this.zeroBits = new Uint32Array(Math.ceil(this.batchPages / 32));
    this.frameCapacity = FRAME_HEADER_BYTES + pagesBodyBytes(this.batchPages, this.batchPages * ps);
    this.keys = new PageKeys(layout);
    this.peer = new PeerCopies(this.keys.total, kernels.xxh64(new Uint8Array(ps)));
    const uses = encodingsUsed(this.mode, options.encodings ?? ALL_ENCODINGS);
    this.lz4Mode = uses.lz4 ? (this.mode === 'lz4' ? true : undefined) : false;
    this.cache = uses.xbzrle ? new PageCache(options.xbzrleCacheBytes ?? DEFAULT_XBZRLE_CACHE_BYTES, ps) : undefined;
    this.deltaOut = new Uint8Array(uses.xbzrle ? Math.floor(ps * (options.xbzrleMaxFraction ?? 0.5)) : 0);
    this.dedup = uses.dedup ? new DedupIndex(Math.min(2 * this.keys.total, DEDUP_MAX_SLOTS)) : undefined;
    if (this.mode === 'adaptive') this.lz4BytesPerSec = calibrateLz4(ps, this.clock);
  }

  /** Returns a batch's buffer to the pool once the transport is done with it. */
  release(batch: EncodedBatch): void {
    if (this.pool.length < MAX_POOLED_FRAMES) this.pool.push(batch.buffer);
  }

  stats(): CodecStats {
    return {
      mode: this.mode,
      pages: { ...this.pagesBy },
      payloadBytes: { ...this.bytesBy },
      xbzrleCache: {
        hits: this.cache?.hits ?? 0,
        misses: this.cache?.misses ?? 0,
        overflows: this.cache?.overflows ?? 0,
        fallbacks: this.xbzrleFallbacks,
      },
      lz4BytesPerSec: this.lz4BytesPerSec,
      lz4Ratio: this.lz4Ratio,
      linkBytesPerSec: this.link.codecBytesPerSec,
    };
  }

  /**
   * Encodes the next batch of set bits of `dirty` from page `from` on. Returns the batch and
   * the page index to continue from (-1 when the bitmap is exhausted). With `skipZero`, zero
   * pages are left out entirely (round 0: the destination starts from zeroed memory).
   */
  next(
    region: MemoryRegion,
    regionIndex: number,
    dirty: DirtyBitmap,
    from: number,
    round: number,
    skipZero: boolean,
    /** Take no page at or past this one (a stripe's end with several channels). */
    limit: number = Number.POSITIVE_INFINITY,
  ): { batch: EncodedBatch | undefined; nextFrom: number; zeroPages: number } {
    const ps = this.pageSize;
    let count = 0;
    let at = dirty.nextSet(from);
    if (at >= limit) return { batch: undefined, nextFrom: at, zeroPages: 0 };
    while (at >= 0 && at < limit && count < this.batchPages) {
      this.indices[count++] = at;
      at = dirty.nextSet(at + 1);
    }
    if (count === 0) return { batch: undefined, nextFrom: -1, zeroPages: 0 };

    const src = this.regionBuffer(region);
    const frame = this.pool.pop() ?? Buffer.allocUnsafeSlow(this.frameCapacity);
    const payloadAt = FRAME_HEADER_BYTES + PAGES_HEADER_BYTES + count * PAGE_ENTRY_BYTES;
    // Copy runs of consecutive pages with one memcpy each.
    for (let i = 0; i < count; ) {
      let j = i + 1;
      while (j < count && this.indices[j] === this.indices[j - 1]! + 1) j++;
      const first = this.indices[i]!;
      src.copy(frame, payloadAt + i * ps, first * ps, (first + (j - i)) * ps);
      i = j;
    }
    const zeroCount = this.kernels.scanPages(frame.subarray(payloadAt, payloadAt + count * ps), ps, this.hashes, this.zeroBits);

    // LZ4 in adaptive mode: the batch's first candidate page is compressed as a sample; its
    // ratio, LZ4's measured speed and the link's rate (its cap, or raw windows' measured rate)
    // decide for the rest of the batch.
    let useLz4 = this.lz4Mode === undefined && this.link.forceRaw ? false : this.lz4Mode;
    let usedLz4 = false;
    let lz4In = 0;
    let lz4Out = 0;
    let lz4Ms = 0;
    const kept = skipZero ? count - zeroCount : count;
    const entriesAt = FRAME_HEADER_BYTES + PAGES_HEADER_BYTES;
    const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    const firstKey = this.keys.first(regionIndex);
    let entry = 0;
    let out = entriesAt + kept * PAGE_ENTRY_BYTES;
    for (let i = 0; i < count; i++) {
      const pageIndex = this.indices[i]!;
      const key = firstKey + pageIndex;
      // Hashes move as 32-bit halves: no BigInt per page.
      const lo = this.hashWords[2 * i]!;
      const hi = this.hashWords[2 * i + 1]!;
      const isZero = (this.zeroBits[i >>> 5]! & (1 << (i & 31))) !== 0;
      this.peer.sent(key, lo, hi);
      if (isZero) {
        this.cache?.drop(key);
        if (skipZero) continue;
        writePageEntry(view, entriesAt, entry++, pageIndex, PageEncoding.ZERO, 0, lo, hi);
        this.pagesBy.zero++;
        continue;
      }
      const slot = payloadAt + i * ps;
      // A view of the page only where an encoding reads it: never with compression off.
      const page = this.mode === 'off' ? undefined : frame.subarray(slot, slot + ps);
      let encoding: PageEncoding = PageEncoding.RAW;
      let length = ps;
      let encoded: Uint8Array | undefined;

      const hashKey = this.dedup ? (hi & 0x1f_ffff) * 0x1_0000_0000 + lo : 0;
      const twin = this.dedupTarget(hashKey, lo, hi, key, regionIndex, i);
      if (twin !== undefined) {
        encoding = PageEncoding.DEDUP;
        length = DEDUP_PAYLOAD_BYTES;
      } else if (this.cache && round > 0) {
        const old = this.cache.get(key);
        const n = old ? this.kernels.xbzrleEncode(old, page!, this.deltaOut) : -1;
        if (n >= 0) {
          encoding = PageEncoding.XBZRLE;
          length = n;
          encoded = this.deltaOut.subarray(0, n);
        } else if (old) {
          this.xbzrleFallbacks++;
        }
      }
      if (encoding === PageEncoding.RAW && useLz4 !== false) {
        const t = this.clock.nowMs();
        const compressed = lz4CompressPage(page!);
        lz4Ms += this.clock.nowMs() - t;
        lz4In += ps;
        lz4Out += compressed.byteLength;
        if (useLz4 === undefined) {
          const m = {
            lz4BytesPerSec: this.lz4BytesPerSec,
            lz4Ratio: compressed.byteLength / ps,
            linkBytesPerSec: this.link.codecBytesPerSec,
          };
          useLz4 = lz4Pays(m);
          // When only LZ4's speed says no, compress a whole batch now and then: its measured
          // speed may have been taken on a busy machine, and nothing else would ever re-measure it.
          if (!useLz4 && lz4Pays({ ...m, lz4BytesPerSec: 2 * m.lz4BytesPerSec }) && ++this.speedProbes % SPEED_PROBE_EVERY === 0) {
            useLz4 = true;
          }
        }
        // A sample that lost goes raw too, so the batch stays all RAW/ZERO: the receiver's fast path.
        if (useLz4 && compressed.byteLength < ps) {
          usedLz4 = true;
          encoding = PageEncoding.LZ4;
          length = compressed.byteLength;
          encoded = compressed;
        }
      }
      // The page is still whole in its slot: cache it before its payload moves over it. As in
      // QEMU, not in round 0: a page sent again later was dirtied, so it is worth caching then;
      // caching all of memory in the first pass would cost a copy per page for nothing.
      if (round > 0) this.cache?.put(key, page!);
      if (this.dedup) {
        // Keep the oldest page still holding this content: it is the one outside this batch.
        const held = this.dedup.lookup(hashKey);
        if (held === undefined || !this.peer.holds(held, lo, hi)) this.dedup.remember(hashKey, key);
      }
      if (twin !== undefined) {
        const [r2, p2] = this.keys.locate(twin);
        view.setUint16(out, r2, true);
        view.setUint16(out + 2, 0, true);
        view.setUint32(out + 4, p2, true);
      } else if (encoded) {
        frame.set(encoded, out);
      } else if (out !== slot) {
        frame.copy(frame, out, slot, slot + ps);
      }
      writePageEntry(view, entriesAt, entry++, pageIndex, encoding, length, lo, hi);
      const name = ENCODING_NAMES[encoding];
      this.pagesBy[name]++;
      this.bytesBy[name] += length;
      out += length;
    }
    if (lz4In > 0) {
      this.lz4Ratio = ewma(this.lz4Ratio, lz4Out / lz4In);
      // Speed from whole batches only: a lone sample page runs with cold caches and reads slow.
      if (lz4In >= 16 * ps && lz4Ms > 0) this.lz4BytesPerSec = decayingMax(this.lz4BytesPerSec, (lz4In / lz4Ms) * 1000);
    }
    if (kept === 0) {
      this.pool.push(frame);
      return { batch: undefined, nextFrom: at, zeroPages: zeroCount };
    }
    writeFrameHeader(view, 0, MessageType.PAGES, out - FRAME_HEADER_BYTES);
    writePagesHeader(view, FRAME_HEADER_BYTES, regionIndex, round, kept);
    const batch = { frame: frame.subarray(0, out), buffer: frame, pages: kept, compressed: usedLz4 };
    // Zero pages are counted apart from the batch: in round 0 they may leave no batch at all.
    return { batch, nextFrom: at, zeroPages: zeroCount };
  }

  /**
   * A page the destination already holds with content hashing to `hash`, or undefined. Not
   * this page, not one whose content has changed since, and not one earlier in this batch
   * (the destination writes a batch only after checking all of it).
   */
  private dedupTarget(hashKey: number, lo: number, hi: number, key: number, regionIndex: number, position: number): number | undefined {
    if (!this.dedup) return undefined;
    const twin = this.dedup.lookup(hashKey);
    if (twin === undefined || twin === key || !this.peer.holds(twin, lo, hi)) return undefined;
    const [twinRegion, twinPage] = this.keys.locate(twin);
    if (twinRegion === regionIndex && this.inBatchBefore(twinPage, position)) return undefined;
    this.dedup.hits++;
    return twin;
  }

  /**
   * A connection broke: the destination may hold older copies of `pages` (one bitmap per region)
   * than were sent, or none. Until each is sent again, no XBZRLE delta is made against its cached
   * copy and no DEDUP reference points at it: what the destination holds is unknown.
   */
  forgetDestinationCopies(pages: readonly DirtyBitmap[]): void {
    pages.forEach((bitmap, r) => {
      const first = this.keys.first(r);
      for (let p = bitmap.nextSet(0); p >= 0; p = bitmap.nextSet(p + 1)) {
        this.cache?.drop(first + p);
        this.peer.forget(first + p);
      }
    });
  }

  /** The hash of every page as the destination holds it (a zero page until sent), by page key. */
  get sentHashes(): BigUint64Array {
    return this.peer.hashes;
  }

  /** Whether `pageIndex` is among the first `position` pages of this batch (sorted ascending). */
  private inBatchBefore(pageIndex: number, position: number): boolean {
    let lo = 0;
    let hi = position;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.indices[mid]! < pageIndex) lo = mid + 1;
      else hi = mid;
    }
    return lo < position && this.indices[lo] === pageIndex;
  }

  private regionBuffer(region: MemoryRegion): Buffer {
    let b = this.regionBuffers.get(region);
    if (!b) {
      b = Buffer.from(region.bytes.buffer, region.bytes.byteOffset, region.bytes.byteLength);
      this.regionBuffers.set(region, b);
    }
    return b;
  }
}
