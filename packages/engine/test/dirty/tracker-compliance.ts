import { describe, expect, it } from 'vitest';
import { DirtyBitmap, type DirtyTracker, type GuestMemory } from '../../src/index.ts';
import { guestMemory, setBits } from '../harness/index.ts';

/**
 * The `DirtyTracker` contract (src/dirty/tracker.ts), as a suite every implementation runs, in
 * the manner of js-libp2p's interface-compliance-tests: `describeTrackerCompliance(impl)`.
 */

/** A tracker over some memory, and the guest's way of writing there so that the tracker sees it. */
export interface TrackedGuest {
  readonly tracker: DirtyTracker;
  /**
   * Writes byte `offset` (default 0) of page `page` of region `region` with a new value, and does
   * whatever else a guest of this tracker does for a write (mark a write barrier, log it for
   * the control plane). The content always changes, so a tracker that compares content sees it.
   */
  write(region: number, page: number, offset?: number): void;
}

export interface TrackerImplementation {
  readonly name: string;
  /** Why the implementation cannot run on this machine; the suite is skipped, saying so. */
  readonly unsupported?: string | undefined;
  /** `mapped`: it needs memory the addon mapped (`GuestMemory.map`). Default `shared`. */
  readonly backing?: 'shared' | 'mapped';
  /**
   * What becomes of a page written before `start`: `forgotten` (start begins recording afresh)
   * or `reported` once by the first sync (the tracker reports what something else logged, and
   * that log may hold older writes: an over-report bounded by the pages really written, and
   * harmless since round 0 sends every page anyway).
   */
  readonly writesBeforeStart: 'forgotten' | 'reported';
  create(memory: GuestMemory): TrackedGuest | Promise<TrackedGuest>;
}

/**
 * Three regions: 256 pages, 67 (not a whole number of 32-bit bitmap words, so its last page is
 * bit 2 of a partly used word) and 32 (exactly one word).
 */
const REGION_PAGES = [256, 67, 32] as const;
const PAGE = 4096;

export function describeTrackerCompliance(impl: TrackerImplementation): void {
  const title = impl.unsupported === undefined ? impl.name : `${impl.name} (skipped: ${impl.unsupported})`;

  describe.skipIf(impl.unsupported !== undefined)(`${title} complies with the DirtyTracker contract`, () => {
    async function started(): Promise<TrackedGuest & { memory: GuestMemory }> {
      const memory = guestMemory(
        REGION_PAGES.map((n) => n * PAGE),
        { backing: impl.backing ?? 'shared' },
      );
      const guest = await impl.create(memory);
      await guest.tracker.start();
      return { tracker: guest.tracker, write: (region, page, offset) => guest.write(region, page, offset), memory };
    }

    /** Syncs `region` into a fresh bitmap; returns the count the tracker gave and the pages set. */
    async function sync(tracker: DirtyTracker, region: number): Promise<{ count: number; pages: number[] }> {
      const into = new DirtyBitmap(REGION_PAGES[region]!);
      const count = await tracker.sync(region, into);
      return { count, pages: setBits(into) };
    }

    it('has a kind', async () => {
      const { tracker } = await started();
      expect(tracker.kind).toMatch(/^[a-z]/);
      tracker.stop();
    });

    it('reports a page written between syncs exactly once, by the next sync', async () => {
      const { tracker, write } = await started();
      write(0, 7);
      write(0, 7, 100); // twice on one page: one page
      write(0, 200, PAGE - 1);
      expect(await sync(tracker, 0)).toEqual({ count: 2, pages: [7, 200] });
      expect(await sync(tracker, 0)).toEqual({ count: 0, pages: [] });
      tracker.stop();
    });

    it('does not report pages nobody wrote, in any region', async () => {
      const { tracker } = await started();
      for (let r = 0; r < REGION_PAGES.length; r++) expect(await sync(tracker, r)).toEqual({ count: 0, pages: [] });
      tracker.stop();
    });

    it('starts afresh after each sync: a page written again is reported again', async () => {
      const { tracker, write } = await started();
      write(0, 31);
      write(0, 32); // either side of a word boundary
      expect((await sync(tracker, 0)).pages).toEqual([31, 32]);
      write(0, 32, 9);
      expect(await sync(tracker, 0)).toEqual({ count: 1, pages: [32] });
      expect(await sync(tracker, 0)).toEqual({ count: 0, pages: [] });
      tracker.stop();
    });

    it('keeps regions apart: a write shows in its own region only', async () => {
      const { tracker, write } = await started();
      write(1, 5);
      write(2, 5);
      write(2, 6);
      expect(await sync(tracker, 0)).toEqual({ count: 0, pages: [] });
      expect(await sync(tracker, 1)).toEqual({ count: 1, pages: [5] });
      expect(await sync(tracker, 2)).toEqual({ count: 2, pages: [5, 6] });
      tracker.stop();
    });

    it('sees the first byte of the first page and the last byte of the last page of every region', async () => {
      const { tracker, write } = await started();
      for (let r = 0; r < REGION_PAGES.length; r++) {
        write(r, 0, 0);
        write(r, REGION_PAGES[r]! - 1, PAGE - 1);
      }
      for (let r = 0; r < REGION_PAGES.length; r++) {
        expect(await sync(tracker, r)).toEqual({ count: 2, pages: [0, REGION_PAGES[r]! - 1] });
      }
      tracker.stop();
    });

    it('adds to the bitmap it is given and never clears a bit already there', async () => {
      const { tracker, write } = await started();
      write(1, 40);
      const into = new DirtyBitmap(REGION_PAGES[1]);
      into.set(3);
      into.set(66);
      await tracker.sync(1, into);
      expect(setBits(into)).toEqual([3, 40, 66]);
      tracker.stop();
    });

    it('gives its count as a number or a promise of one, for each region in turn', async () => {
      const { tracker, write } = await started();
      write(0, 1);
      write(1, 2);
      write(1, 3);
      const counts: number[] = [];
      for (let r = 0; r < REGION_PAGES.length; r++) {
        const into = new DirtyBitmap(REGION_PAGES[r]!);
        const result = tracker.sync(r, into);
        expect(typeof result === 'number' || result instanceof Promise).toBe(true);
        counts.push(await result);
        expect(into.count()).toBe(counts[r]);
      }
      expect(counts).toEqual([1, 2, 0]);
      tracker.stop();
    });

    it('reports every page of a region when the guest wrote them all', async () => {
      const { tracker, write } = await started();
      for (let p = 0; p < REGION_PAGES[1]; p++) write(1, p, p % PAGE);
      const all = Array.from({ length: REGION_PAGES[1] }, (_, p) => p);
      expect(await sync(tracker, 1)).toEqual({ count: REGION_PAGES[1], pages: all });
      tracker.stop();
    });

    it(`${impl.writesBeforeStart === 'forgotten' ? 'forgets' : 'reports once'} a page written before start, and records from start on`, async () => {
      const memory = guestMemory(
        REGION_PAGES.map((n) => n * PAGE),
        { backing: impl.backing ?? 'shared' },
      );
      const { tracker, write } = await impl.create(memory);
      write(0, 10);
      await tracker.start();
      write(0, 11);
      const expected = impl.writesBeforeStart === 'forgotten' ? [11] : [10, 11];
      expect(await sync(tracker, 0)).toEqual({ count: expected.length, pages: expected });
      tracker.stop();
    });

    it('can stop, and start again recording afresh', async () => {
      const { tracker, write } = await started();
      write(0, 1);
      tracker.stop();
      tracker.stop(); // stopping twice is harmless
      await tracker.start();
      write(0, 2);
      const expected = impl.writesBeforeStart === 'forgotten' ? [2] : [1, 2];
      expect((await sync(tracker, 0)).pages).toEqual(expected);
      tracker.stop();
    });

    it('takes a range early with syncRange (when it has one): nothing outside the range rounded out to whole words, and nothing lost', async () => {
      const { tracker, write } = await started();
      for (const p of [3, 40, 70, 100, 200]) write(0, p);
      const early = new DirtyBitmap(REGION_PAGES[0]);
      const taken = tracker.syncRange?.(0, 64, 96, early) ?? 0;
      const earlyPages = setBits(early);
      expect(taken).toBe(earlyPages.length);
      // [64, 96) is exactly words 2: only page 70 may go early.
      expect(earlyPages.every((p) => p === 70)).toBe(true);
      const rest = await sync(tracker, 0);
      // Every written page exactly once, early or at the sync.
      expect([...earlyPages, ...rest.pages].sort((a, b) => a - b)).toEqual([3, 40, 70, 100, 200]);
      // Rounded out: a range inside a word takes that whole word.
      write(0, 33);
      write(0, 60);
      write(0, 64);
      const word = new DirtyBitmap(REGION_PAGES[0]);
      tracker.syncRange?.(0, 40, 41, word);
      expect(setBits(word).every((p) => p >= 32 && p < 64)).toBe(true);
      const after = await sync(tracker, 0);
      expect([...setBits(word), ...after.pages].sort((a, b) => a - b)).toEqual([33, 60, 64]);
      tracker.stop();
    });
  });
}
