import type { Kernels } from '../accel/kernels.ts';
import { ErrorCode, UsageError } from '../errors.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import { PageKeys } from '../memory/page-keys.ts';
import type { DirtyBitmap } from './bitmap.ts';
import type { DirtyTracker } from './tracker.ts';

/** Pages hashed per kernel call: short calls, two at a time on the addon's pool. */
const CHUNK_PAGES = 8192;

/**
 * Dirty tracking with no help from the guest: every sync fingerprints every page (xxh3 in the
 * addon, xxh64 in the fallback) and compares with the fingerprint from the previous sync. Costs a pass over memory per round, but works for memory
 * that something else writes (another process, a VMM) with no write barrier and no kernel
 * support. With the native addon the pass runs off the event loop on its thread pool, two
 * chunks at a time; zero pages are found in the same pass.
 *
 * Given the destination's hashes (`compareWithSent`, which pre-copy does), a page is dirty when
 * its content differs from what the destination holds, not from the last scan: a scan and a
 * send read the page at different times, and a writer that changes a page and changes it back in
 * between (a lock word, a counter) would otherwise leave the destination with the passing value.
 */
export class HashScanTracker implements DirtyTracker {
  readonly kind = 'hash-scan';
  private readonly memory: GuestMemory;
  private readonly kernels: Kernels;
  private readonly previous: BigUint64Array[];
  private readonly current: BigUint64Array[];
  private readonly zeroBits: Uint32Array[];
  /** Zero pages found by the last scan, per region. */
  zeroPages: number[] = [];
  /** The destination's page hashes as 32-bit halves, by page key, once `compareWithSent` gave them. */
  private sent: Uint32Array | undefined;
  private readonly keys: PageKeys;

  constructor(memory: GuestMemory, kernels: Kernels) {
    this.memory = memory;
    this.kernels = kernels;
    this.previous = memory.regions.map((r) => new BigUint64Array(r.pageCount));
    this.current = memory.regions.map((r) => new BigUint64Array(r.pageCount));
    this.zeroBits = memory.regions.map((r) => new Uint32Array(Math.ceil(r.pageCount / 32)));
    this.keys = new PageKeys(memory.layout);
  }

  compareWithSent(sentHashes: BigUint64Array): void {
    this.sent = new Uint32Array(sentHashes.buffer, sentHashes.byteOffset, sentHashes.length * 2);
  }

  /** Hashes all memory: the baseline the first sync compares against. */
  async start(): Promise<void> {
    // Compared with the destination's hashes there is no baseline to take: round 0 sends all.
    if (this.sent) return;
    for (let r = 0; r < this.memory.regions.length; r++) {
      await this.scan(r);
      this.previous[r]!.set(this.current[r]!);
    }
  }

  async sync(regionIndex: number, into: DirtyBitmap): Promise<number> {
    const prev = this.previous[regionIndex];
    if (!prev) throw new UsageError(ErrorCode.INVALID_ARGUMENT, `no region ${regionIndex}`);
    const cur = this.current[regionIndex]!;
    if (this.sent) return this.syncAgainstSent(regionIndex, into);
    // Compare as 32-bit halves (no BigInt per page), chunk by chunk as each scan finishes, so the
    // event loop never runs one loop over all pages of a large guest.
    const a = new Uint32Array(prev.buffer, prev.byteOffset, prev.length * 2);
    const b = new Uint32Array(cur.buffer, cur.byteOffset, cur.length * 2);
    let changed = 0;
    await this.scan(regionIndex, (first, count) => {
      for (let p = first; p < first + count; p++) {
        if (a[2 * p] !== b[2 * p] || a[2 * p + 1] !== b[2 * p + 1]) {
          if (!into.test(p)) changed++;
          into.set(p);
          a[2 * p] = b[2 * p]!;
          a[2 * p + 1] = b[2 * p + 1]!;
        }
      }
    });
    return changed;
  }

  stop(): void {}

  private async syncAgainstSent(regionIndex: number, into: DirtyBitmap): Promise<number> {
    const sent = this.sent!;
    const cur = this.current[regionIndex]!;
    const b = new Uint32Array(cur.buffer, cur.byteOffset, cur.length * 2);
    const first = this.keys.first(regionIndex);
    let changed = 0;
    await this.scan(
      regionIndex,
      (from, count) => {
        for (let p = from; p < from + count; p++) {
          const k = first + p;
          if (sent[2 * k] !== b[2 * p] || sent[2 * k + 1] !== b[2 * p + 1]) {
            if (!into.test(p)) changed++;
            into.set(p);
          }
        }
      },
      true,
    );
    return changed;
  }

  /** Fingerprints (xxh3) every page, or with `sameAsSent` hashes them as the encoder does (`hashPages`, no zero count). */
  private async scan(regionIndex: number, onChunk?: (firstPage: number, pageCount: number) => void, sameAsSent = false): Promise<void> {
    const region = this.memory.regions[regionIndex]!;
    const ps = this.memory.pageSize;
    const out = this.current[regionIndex]!;
    const zero = this.zeroBits[regionIndex]!;
    const jobs: { first: number; count: number }[] = [];
    for (let first = 0; first < region.pageCount; first += CHUNK_PAGES)
      jobs.push({ first, count: Math.min(CHUNK_PAGES, region.pageCount - first) });
    let zeros = 0;
    const run = async (): Promise<void> => {
      for (let job = jobs.shift(); job; job = jobs.shift()) {
        const bytes = region.bytes.subarray(job.first * ps, (job.first + job.count) * ps);
        const hashes = out.subarray(job.first, job.first + job.count);
        // Chunks start on 32-page boundaries (CHUNK_PAGES is a multiple of 32), so word views line up.
        const bits = zero.subarray(job.first >>> 5, (job.first + job.count + 31) >>> 5);
        if (sameAsSent) {
          if (this.kernels.hashPagesAsync) await this.kernels.hashPagesAsync(bytes, ps, hashes);
          else this.kernels.hashPages(bytes, ps, hashes);
          onChunk?.(job.first, job.count);
          continue;
        }
        zeros += this.kernels.fingerprintPagesAsync
          ? await this.kernels.fingerprintPagesAsync(bytes, ps, hashes, bits)
          : this.kernels.fingerprintPages(bytes, ps, hashes, bits);
        onChunk?.(job.first, job.count);
      }
    };
    await Promise.all([run(), run()]);
    this.zeroPages[regionIndex] = zeros;
  }
}
