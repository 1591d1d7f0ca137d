/**
 * The guest of a trial host process: writes self-checking pages on the main thread every few
 * milliseconds through the write barrier. Its memory is a file the campaign reads after the
 * process is gone, and it writes only between the engine's steps, so `pause()` takes effect at
 * once and a paused guest's memory is exactly what it was when the source paused it.
 */
import { type GuestMemory, WriteBarrier, type WriteBarrierTracker } from '@ferry/engine';
import { writePattern } from '@ferry/engine/testing';
import type { DrivenGuest } from './planes.ts';
import { Rng } from './rng.ts';

const TICK_MS = 5;

export class TickGuest implements DrivenGuest {
  private timer: NodeJS.Timeout | undefined;
  private readonly barrier: WriteBarrier;
  private readonly rng: Rng;
  private version = 1_000_000;
  private last = 0;
  private allowance = 0;

  constructor(
    private readonly memory: GuestMemory,
    tracker: WriteBarrierTracker,
    private readonly pagesPerSec: number,
    seed: number,
  ) {
    this.barrier = new WriteBarrier(tracker.sharedBuffers(), memory.pageSize);
    this.rng = new Rng(seed);
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  start(): void {
    if (this.timer || this.pagesPerSec <= 0) return;
    this.last = performance.now();
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  pause(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  resume(): void {
    this.start();
  }

  private tick(): void {
    const now = performance.now();
    this.allowance = Math.min(this.allowance + ((now - this.last) / 1000) * this.pagesPerSec, this.pagesPerSec / 10);
    this.last = now;
    for (; this.allowance >= 1; this.allowance--) {
      const r = this.rng.int(0, this.memory.regions.length - 1);
      const page = this.rng.int(0, Math.max(0, Math.floor(this.memory.regions[r]!.pageCount / 2) - 1));
      writePattern(this.memory.page(r, page), page, this.version++);
      this.barrier.markPage(r, page);
    }
  }
}
