/** The destination's post-copy receiver: presence, page requests for waiting guests, writes that never undo newer ones. */
import { MessageChannel } from 'node:worker_threads';
import { loadNativeMemory, type NativeMissingPageHandler } from '../accel/native-memory.ts';
import { ErrorCode, FerryError } from '../errors.ts';
import { MemorySink, type PageSink } from '../codec/page-sink.ts';
import { DirtyBitmap } from '../dirty/bitmap.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import { PageKeys } from '../memory/page-keys.ts';
import type { PostcopyAccess } from '../session/control-plane.ts';
import type { FaultStats } from '../session/report.ts';
import type { Clock } from '../util/clock.ts';
import { PresenceMap } from './presence.ts';

/**
 * The destination's side of post-copy: tracks which pages are here, turns a guest's wait for a
 * missing page into one PAGE_REQUEST (however many threads wait for it), writes arriving pages
 * only where nothing is yet (the running guest may have changed a page since it arrived, and
 * a late duplicate must not undo that), and wakes the waiters.
 */
export class PostcopyReceiver implements PageSink {
  readonly presence: PresenceMap;
  private readonly memory: GuestMemory;
  private readonly clock: Clock;
  private readonly sendRequest: (region: number, page: number) => void;
  private readonly requested: DirtyBitmap[];
  private readonly requestedAt = new Map<number, number>();
  private readonly waiters = new Map<number, (() => void)[]>();
  private readonly latencies: number[] = [];
  private readonly keys: PageKeys;
  /** Buffer views of the regions, made once, for page copies without a view per page. */
  /** Where a page goes without userfaultfd. */
  private readonly memorySink: MemorySink;
  private channel: MessageChannel | undefined;
  /** False until the guest runs: before that nothing can request or change a page. */
  private running = false;
  /** Per region, when the guest waits by real page faults: pages go in with UFFDIO_COPY. */
  private faultHandlers: NativeMissingPageHandler[] | undefined;

  constructor(memory: GuestMemory, clock: Clock, sendRequest: (region: number, page: number) => void) {
    this.memory = memory;
    this.clock = clock;
    this.sendRequest = sendRequest;
    this.presence = new PresenceMap(memory.regions.map((r) => r.pageCount));
    this.memorySink = new MemorySink(memory);
    this.requested = memory.regions.map((r) => new DirtyBitmap(r.pageCount));
    this.keys = new PageKeys(memory.layout);
  }

  /** The access handed to the control plane's resume hook; from here on the guest may run. */
  access(complete: Promise<void>): PostcopyAccess {
    this.running = true;
    this.channel = new MessageChannel();
    this.channel.port1.on('message', (m: unknown) => {
      if (Array.isArray(m) && typeof m[0] === 'number' && typeof m[1] === 'number') this.request(m[0], m[1]);
    });
    this.channel.port1.unref();
    return {
      presence: this.presence.sharedBuffers(),
      port: this.channel.port2,
      ensure: (region, page) => this.ensure(region, page),
      complete,
    };
  }

  /** Asks the source for a missing page once; a page here or already asked for costs nothing. */
  request(region: number, page: number): void {
    const pageCount = this.memory.regions[region]?.pageCount ?? 0;
    if (!Number.isInteger(page) || page < 0 || page >= pageCount) return;
    if (this.presence.has(region, page) || this.requested[region]!.test(page)) return;
    this.requested[region]!.set(page);
    this.requestedAt.set(this.key(region, page), this.clock.nowMs());
    this.sendRequest(region, page);
  }

  /** Sends again every request whose page has not arrived (after a reconnection). */
  resendRequests(): void {
    for (let r = 0; r < this.requested.length; r++) {
      const requested = this.requested[r]!;
      for (let p = requested.nextSet(0); p >= 0; p = requested.nextSet(p + 1)) {
        if (!this.presence.has(r, p)) this.sendRequest(r, p);
      }
    }
  }

  ensure(region: number, page: number): Promise<void> {
    if (this.presence.has(region, page)) return Promise.resolve();
    return new Promise((resolve) => {
      const key = this.key(region, page);
      const list = this.waiters.get(key);
      if (list) list.push(resolve);
      else this.waiters.set(key, [resolve]);
      this.request(region, page);
    });
  }

  wants(region: number, page: number): boolean {
    return !this.presence.has(region, page);
  }

  /**
   * Switches to real page faults: the missing pages of every region (all mapped by the addon,
   * anonymous) are dropped and registered with userfaultfd, so an unmodified guest thread that
   * touches one blocks in the kernel until it arrives. Call after the missing maps, before the
   * guest runs. Throws `FERRY_KERNEL_TRACKING_UNAVAILABLE` where userfaultfd cannot be used.
   */
  useUserfaultfd(): void {
    const loaded = loadNativeMemory();
    if ('error' in loaded) throw new FerryError(ErrorCode.KERNEL_TRACKING_UNAVAILABLE, loaded.error.message);
    const support = loaded.binding.missingFaultSupport();
    if (!support.available) throw new FerryError(ErrorCode.KERNEL_TRACKING_UNAVAILABLE, support.reason ?? 'userfaultfd unavailable');
    const handlers: NativeMissingPageHandler[] = [];
    try {
      this.memory.regions.forEach((r, index) => {
        if (!r.mapping) {
          throw new FerryError(
            ErrorCode.KERNEL_TRACKING_UNAVAILABLE,
            `region ${r.name} is not memory the addon mapped: allocate the guest with GuestMemory.map for userfaultfd post-copy`,
          );
        }
        const present = this.presence.regions[index]!;
        const missing = new Uint32Array(present.length);
        for (let w = 0; w < present.length; w++) missing[w] = ~present[w]! >>> 0;
        handlers.push(
          loaded.binding.MissingPageHandler.create(r.mapping, this.memory.pageSize, missing, (page) => this.request(index, page)),
        );
      });
    } catch (err) {
      for (const h of handlers) h.close();
      if (err instanceof FerryError) throw err;
      throw new FerryError(ErrorCode.KERNEL_TRACKING_UNAVAILABLE, `userfaultfd registration failed: ${(err as Error).message}`, {
        cause: err,
      });
    }
    this.faultHandlers = handlers;
  }

  write(region: number, page: number, src: Buffer, offset: number): void {
    if (this.faultHandlers) this.faultHandlers[region]!.copy(page, src, offset);
    else this.memorySink.write(region, page, src, offset);
    this.presence.markPresent(region, page);
    // Most pages are pushed, never asked for; only an asked-for page can have a waiter.
    if (!this.requested[region]!.test(page)) return;
    const key = this.key(region, page);
    const askedAt = this.requestedAt.get(key);
    if (askedAt !== undefined) {
      this.latencies.push(this.clock.nowMs() - askedAt);
      this.requestedAt.delete(key);
    }
    const waiting = this.waiters.get(key);
    if (waiting) {
      this.waiters.delete(key);
      for (const w of waiting) w();
    }
  }

  /** Marks the pages a POSTCOPY_MISSING names as not here. Only before the guest runs. */
  markMissing(region: number, firstPage: number, missing: DirtyBitmap): number {
    if (this.running) throw new Error('missing pages announced after the guest resumed');
    return this.presence.markMissing(region, firstPage, missing);
  }

  get missingPages(): number {
    return this.presence.missingPages();
  }

  stats(): FaultStats {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const at = (q: number): number => (sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);
    return { faults: sorted.length, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: sorted.at(-1) ?? 0 };
  }

  /**
   * Every page is here: stop listening for requests and release the fault registrations.
   * Not called when post-copy breaks: then guest threads must stay blocked on missing pages
   * (unregistering would let them read zeros).
   */
  close(): void {
    this.channel?.port1.close();
    for (const h of this.faultHandlers ?? []) h.close();
    this.faultHandlers = undefined;
  }

  private key(region: number, page: number): number {
    return this.keys.key(region, page);
  }
}
