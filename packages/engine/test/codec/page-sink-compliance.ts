import { describe, expect, it } from 'vitest';
import type { PageSink } from '../../src/codec/page-sink.ts';
import { DirtyBitmap, type GuestMemory } from '../../src/index.ts';
import { expectSameMemory, fillPages, guestMemory } from '../harness/index.ts';

/**
 * The `PageSink` contract (src/codec/page-sink.ts), as a suite every implementation runs:
 * `describePageSinkCompliance(impl)`. The decoder hands each verified page to `write` when
 * `wants` says so; the suite does the same (`deliver`).
 */

/** A sink over a guest's memory, as a test drives it. */
export interface SinkUnderTest {
  readonly sink: PageSink;
  /** Pages this sink counts as not here yet, when it keeps count. */
  missingPages?(): number;
  /** Called before the test reads memory back (a sink that writes through the kernel lets go of it here). */
  settle?(): void;
}

export interface PageSinkImplementation {
  readonly name: string;
  /** Why the implementation cannot run on this machine; the suite is skipped, saying so. */
  readonly unsupported?: string | undefined;
  /** `mapped`: it needs memory the addon mapped (`GuestMemory.map`). Default `shared`. */
  readonly backing?: 'shared' | 'mapped';
  /**
   * What `wants` says, as the implementation documents it: `every page` (pre-copy: a later copy
   * replaces the one before) or `missing pages` (post-copy: a page already here, perhaps changed
   * by the running guest since, is never overwritten; a write makes its page present).
   */
  readonly wants: 'every page' | 'missing pages';
  /**
   * A sink over `memory`, whose pages in `missing` (one bitmap per region) are not here yet. The
   * memory's other pages hold what arrived before; the missing ones are zero.
   */
  create(memory: GuestMemory, missing: readonly DirtyBitmap[]): SinkUnderTest;
}

/** Regions of 64, 67 (not a whole number of bitmap words) and 32 pages. */
const REGION_PAGES = [64, 67, 32] as const;
const PAGE = 4096;

export function describePageSinkCompliance(impl: PageSinkImplementation): void {
  const title = impl.unsupported === undefined ? impl.name : `${impl.name} (skipped: ${impl.unsupported})`;

  describe.skipIf(impl.unsupported !== undefined)(`${title} complies with the PageSink contract`, () => {
    /**
     * Memory whose pages hold self-checking content, but for the `missing` pages of each region
     * (zero, as fresh memory is), and the sink over it. Returns what the memory holds now.
     */
    function setUp(missingOf: (region: number) => readonly number[]) {
      const memory = guestMemory(
        REGION_PAGES.map((n) => n * PAGE),
        { backing: impl.backing ?? 'shared' },
      );
      const missing = REGION_PAGES.map((n, r) => {
        const b = new DirtyBitmap(n);
        for (const p of missingOf(r)) b.set(p);
        return b;
      });
      fillPages(memory, 'pattern', { pages: (p, r) => !missing[r]!.test(p) });
      const expected = guestMemory(REGION_PAGES.map((n) => n * PAGE));
      for (let r = 0; r < REGION_PAGES.length; r++) expected.region(r).bytes.set(memory.region(r).bytes);
      const subject = impl.create(memory, missing);
      return {
        memory,
        expected,
        sink: subject.sink,
        missingPages: subject.missingPages?.bind(subject),
        settle: () => subject.settle?.(),
      };
    }

    /** What the decoder does with a verified page. */
    function deliver(sink: PageSink, region: number, page: number, src: Buffer, offset: number): void {
      if (sink.wants(region, page)) sink.write(region, page, src, offset);
    }

    /** A page of bytes that says which page it is for and which copy it is. */
    function content(region: number, page: number, copy = 1): Buffer {
      const b = Buffer.alloc(PAGE);
      fillPages({ bytes: b, pageSize: PAGE }, 'random', { seed: region * 1_000_003 + page * 101 + copy });
      return b;
    }

    const firstMiddleLast = (r: number): number[] => [0, REGION_PAGES[r]! >> 1, REGION_PAGES[r]! - 1];

    it('writes the bytes at the right page of every region, and no other byte', () => {
      const { sink, memory, expected, settle } = setUp(firstMiddleLast);
      for (let r = 0; r < REGION_PAGES.length; r++) {
        for (const p of firstMiddleLast(r)) {
          const bytes = content(r, p);
          deliver(sink, r, p, bytes, 0);
          expected.page(r, p).set(bytes);
        }
      }
      settle();
      expectSameMemory(memory, expected);
    });

    it('reads the page at `offset`, from a view anywhere in its buffer', () => {
      const { sink, memory, expected, settle } = setUp(() => [5]);
      // Three pages back to back, 3 bytes into a larger buffer: the page for region 1 is the third.
      const run = Buffer.from(new ArrayBuffer(3 + 3 * PAGE + 8), 3, 3 * PAGE);
      for (let i = 0; i < 3; i++) content(1, 5, i).copy(run, i * PAGE);
      deliver(sink, 1, 5, run, 2 * PAGE);
      expected.page(1, 5).set(content(1, 5, 2));
      settle();
      expectSameMemory(memory, expected);
    });

    it('copies the page during the call, so the source bytes may be reused at once', () => {
      const { sink, memory, expected, settle } = setUp(() => [9]);
      const bytes = content(2, 9);
      deliver(sink, 2, 9, bytes, 0);
      expected.page(2, 9).set(bytes);
      bytes.fill(0xee);
      settle();
      expectSameMemory(memory, expected);
    });

    if (impl.wants === 'every page') {
      it('wants every page, before and after it arrives, and a later copy replaces the earlier one', () => {
        const { sink, memory, expected, settle } = setUp(() => [1]);
        for (let r = 0; r < REGION_PAGES.length; r++) for (const p of firstMiddleLast(r)) expect(sink.wants(r, p)).toBe(true);
        deliver(sink, 0, 1, content(0, 1, 1), 0);
        expect(sink.wants(0, 1)).toBe(true);
        deliver(sink, 0, 1, content(0, 1, 2), 0);
        deliver(sink, 0, 2, content(0, 2), 0); // a page that was here: replaced too
        expected.page(0, 1).set(content(0, 1, 2));
        expected.page(0, 2).set(content(0, 2));
        settle();
        expectSameMemory(memory, expected);
      });
    } else {
      it('wants exactly the missing pages, and a page once written is here: a later copy is dropped', () => {
        const missing = (r: number): number[] => (r === 1 ? [0, 31, 32, 66] : [3]);
        const { sink, memory, expected, settle, missingPages } = setUp(missing);
        // Counted where the implementation keeps count.
        const expectMissing = (n: number): void => {
          if (missingPages) expect(missingPages()).toBe(n);
        };
        for (let r = 0; r < REGION_PAGES.length; r++) {
          for (let p = 0; p < REGION_PAGES[r]!; p++) expect(sink.wants(r, p), `region ${r} page ${p}`).toBe(missing(r).includes(p));
        }
        expectMissing(6);
        deliver(sink, 1, 31, content(1, 31, 1), 0);
        expect(sink.wants(1, 31)).toBe(false);
        expectMissing(5);
        deliver(sink, 1, 31, content(1, 31, 2), 0); // a late duplicate: must not undo the first
        deliver(sink, 0, 4, content(0, 4), 0); // a page that was here all along
        expectMissing(5);
        expected.page(1, 31).set(content(1, 31, 1));
        for (let r = 0; r < REGION_PAGES.length; r++) {
          for (const p of missing(r)) {
            if (r === 1 && p === 31) continue;
            deliver(sink, r, p, content(r, p), 0);
            expected.page(r, p).set(content(r, p));
          }
        }
        expectMissing(0);
        for (let r = 0; r < REGION_PAGES.length; r++) for (const p of missing(r)) expect(sink.wants(r, p)).toBe(false);
        settle();
        expectSameMemory(memory, expected);
      });
    }
  });
}
