import type { MemoryLayout } from '../memory/layout.ts';
import { DirtyBitmap, popcount32 } from './bitmap.ts';
import type { DirtyTracker } from './tracker.ts';

/**
 * A dirty tracker checked against a second, independent one (`verify: 'tracker'`): the primary
 * does the work; the verifier (another mechanism, such as the kernel's write protection beside
 * a guest's write barrier) is synced right after the primary at each round's sync and at the
 * pause. A page the verifier saw written must be reported by the primary by the sync after the
 * verifier's (a write can land between the two syncs); one that is not was missed, and goes
 * into the next round, or the final round at the pause, where both syncs see a guest that no
 * longer writes. So the final round sends every page either tracker saw written, and
 * `missedPages` says how many the primary missed, at a cost during downtime of one more sync
 * and a few passes over the bitmaps, not a pass over memory.
 */
export class CrossCheckedTracker implements DirtyTracker {
  readonly kind: string;
  /** Pages the verifier saw written that the primary had not reported in time (repaired). */
  missedPages = 0;
  private readonly primary: DirtyTracker;
  private readonly verifier: DirtyTracker;
  /** Per region: what the primary reported since the last check. */
  private readonly reported: DirtyBitmap[];
  /** Per region: what the verifier saw at the last check that the primary had not reported yet. */
  private readonly owed: DirtyBitmap[];
  private readonly scratch: DirtyBitmap[];

  constructor(primary: DirtyTracker, verifier: DirtyTracker, layout: MemoryLayout) {
    this.primary = primary;
    this.verifier = verifier;
    this.kind = `${primary.kind}+${verifier.kind}`;
    const bitmaps = (): DirtyBitmap[] => layout.regions.map((r) => new DirtyBitmap(r.sizeBytes / layout.pageSize));
    this.reported = bitmaps();
    this.owed = bitmaps();
    this.scratch = bitmaps();
    if (primary.syncRange) this.syncRange = (r, from, to, into) => this.primaryRange(r, from, to, into);
  }

  /** Only where the primary has it, so that pre-copy takes bits ahead of the sender as it would without the check. */
  readonly syncRange?: NonNullable<DirtyTracker['syncRange']>;

  /** The primary first, so that every write the verifier sees happened after the primary began recording. */
  async start(): Promise<void> {
    for (const b of [...this.reported, ...this.owed]) b.clearAll();
    await this.primary.start();
    await this.verifier.start();
  }

  async sync(regionIndex: number, into: DirtyBitmap): Promise<number> {
    const scratch = this.scratch[regionIndex]!;
    scratch.clearAll();
    const n = await this.primary.sync(regionIndex, scratch);
    this.reported[regionIndex]!.or(scratch);
    into.or(scratch);
    return n;
  }

  private primaryRange(regionIndex: number, fromPage: number, toPage: number, into: DirtyBitmap): number {
    const scratch = this.scratch[regionIndex]!;
    const fromWord = fromPage >>> 5;
    const toWord = Math.min(scratch.words.length, (toPage + 31) >>> 5);
    scratch.words.fill(0, fromWord, toWord);
    const n = this.primary.syncRange!(regionIndex, fromPage, toPage, scratch);
    const seen = this.reported[regionIndex]!.words;
    for (let w = fromWord; w < toWord; w++) {
      const bits = scratch.words[w]!;
      seen[w]! |= bits;
      into.words[w]! |= bits;
    }
    return n;
  }

  /**
   * After the primary's sync of every region: syncs the verifier, adds to `dirty` what the
   * primary missed, and returns how many pages that was. `final` (the guest paused): every page
   * the verifier saw now must be among the primary's.
   */
  async check(dirty: readonly DirtyBitmap[], final: boolean): Promise<number> {
    let missed = 0;
    for (let r = 0; r < dirty.length; r++) {
      const reported = this.reported[r]!.words;
      const owed = this.owed[r]!.words;
      const seen = this.scratch[r]!;
      const into = dirty[r]!.words;
      // Owed since the last check and still not reported: missed.
      missed += takeMissing(owed, reported, into);
      seen.clearAll();
      await this.verifier.sync(r, seen);
      if (final) missed += takeMissing(seen.words, reported, into);
      else for (let w = 0; w < owed.length; w++) owed[w] = seen.words[w]! & ~reported[w]!;
      this.reported[r]!.clearAll();
    }
    this.missedPages += missed;
    return missed;
  }

  stop(): void {
    try {
      this.verifier.stop();
    } finally {
      this.primary.stop();
    }
  }
}

/** Sets in `into` the bits of `want` that `have` lacks, clears `want`, and counts those bits. */
function takeMissing(want: Uint32Array, have: Uint32Array, into: Uint32Array): number {
  let n = 0;
  for (let w = 0; w < want.length; w++) {
    const bits = want[w]! & ~have[w]!;
    want[w] = 0;
    if (bits === 0) continue;
    into[w]! |= bits;
    n += popcount32(bits);
  }
  return n;
}
