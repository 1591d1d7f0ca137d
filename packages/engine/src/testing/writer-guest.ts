import type { Worker } from 'node:worker_threads';
import type { WriteBarrierTracker } from '../dirty/write-barrier.ts';
import type { SourceControlPlane } from '../session/control-plane.ts';
import type { GuestMemory } from '../memory/guest-memory.ts';
import { checkPattern } from './page-pattern.ts';
import { startWorker } from './ts-worker.ts';
import { Control, type WriterGuestData } from './writer-guest-protocol.ts';

export interface WriterGuestOptions {
  /** Pages written per second. */
  readonly pagesPerSec: number;
  /** Fraction of each region the guest writes to. Default 1. */
  readonly workingSetFraction?: number;
  readonly seed?: number;
  /**
   * Bytes each write changes. Default 0: every write rewrites a whole self-checking page (so
   * `tornPages()` can check memory). A small N models programs updating a few fields, the case
   * XBZRLE deltas are for; `tornPages()` then means nothing.
   */
  readonly writeBytes?: number;
  /** `random` (default) pages of the working set, or a `sequential` sweep through it. */
  readonly pattern?: 'random' | 'sequential';
}

/**
 * A test guest: a worker thread that keeps writing self-checking pages into `memory` through
 * the write barrier, and a control plane that pauses and resumes it for real. Use it to check
 * that a migration under writes ends byte-identical.
 */
export class WriterGuest {
  private readonly worker: Worker;
  private readonly ctl: Int32Array;
  private readonly exited: Promise<number>;
  /** Resolves once the worker runs and writes. */
  readonly ready: Promise<void>;
  private readonly memory: GuestMemory;
  private deviceState = new Uint8Array(0);

  constructor(memory: GuestMemory, tracker: WriteBarrierTracker, options: WriterGuestOptions) {
    this.memory = memory;
    this.ctl = new Int32Array(new SharedArrayBuffer(12));
    const data: WriterGuestData = {
      // A mapped region is not a SharedArrayBuffer (posting it would copy it): the worker attaches to the mapping.
      regions: memory.regions.map((r) => (r.mapping ? { mappingId: r.mapping.id } : (r.bytes.buffer as SharedArrayBuffer))),
      dirty: tracker.sharedBuffers(),
      control: this.ctl.buffer as SharedArrayBuffer,
      pageSize: memory.pageSize,
      pagesPerSec: options.pagesPerSec,
      workingSetFraction: options.workingSetFraction ?? 1,
      seed: options.seed ?? 0x1234_5678,
      writeBytes: options.writeBytes ?? 0,
      pattern: options.pattern ?? 'random',
    };
    this.worker = startWorker(new URL(`./writer-guest.worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url), {
      workerData: data,
    });
    this.ready = new Promise((resolve, reject) => {
      this.worker.once('message', () => resolve());
      this.worker.once('error', reject);
    });
    this.exited = new Promise((resolve, reject) => {
      this.worker.once('exit', resolve);
      this.worker.once('error', reject);
    });
  }

  /** Pages written so far. */
  get writes(): number {
    return Atomics.load(this.ctl, Control.WRITES);
  }

  get paused(): boolean {
    return Atomics.load(this.ctl, Control.STATE) === Control.PAUSED;
  }

  /** Returns once the worker is parked: no write is in flight. */
  async pause(): Promise<void> {
    if (Atomics.compareExchange(this.ctl, Control.STATE, Control.RUNNING, Control.PAUSE_REQUESTED) !== Control.RUNNING) return;
    Atomics.notify(this.ctl, Control.STATE);
    while (Atomics.load(this.ctl, Control.STATE) === Control.PAUSE_REQUESTED) {
      const w = Atomics.waitAsync(this.ctl, Control.STATE, Control.PAUSE_REQUESTED, 1000);
      if (w.async) await w.value;
    }
  }

  resume(): void {
    if (Atomics.compareExchange(this.ctl, Control.STATE, Control.PAUSED, Control.RUNNING) === Control.PAUSED) {
      Atomics.notify(this.ctl, Control.STATE);
    }
  }

  /** Slows the guest's writes to (100 - percent)% of its rate, as a hypervisor throttles vCPUs. */
  throttle(percent: number): void {
    Atomics.store(this.ctl, Control.THROTTLE, Math.max(0, Math.min(99, Math.round(percent))));
  }

  get throttlePercent(): number {
    return Atomics.load(this.ctl, Control.THROTTLE);
  }

  async stop(): Promise<void> {
    Atomics.store(this.ctl, Control.STATE, Control.STOP);
    Atomics.notify(this.ctl, Control.STATE);
    await this.exited;
  }

  /** Control-plane hooks that pause, resume and throttle this guest; device state is the write count. */
  controlPlane(): SourceControlPlane & { released: boolean; throttles: number[] } {
    const plane = {
      released: false,
      throttles: [] as number[],
      pause: () => this.pause(),
      resume: () => this.resume(),
      throttle: (percent: number) => {
        plane.throttles.push(percent);
        this.throttle(percent);
      },
      saveDeviceState: () => {
        this.deviceState = new Uint8Array(new BigUint64Array([BigInt(this.writes)]).buffer);
        return this.deviceState;
      },
      release: () => {
        plane.released = true;
      },
    };
    return plane;
  }

  /** Indices of pages whose content is not a whole pattern (should always be empty). */
  tornPages(): { region: number; page: number }[] {
    return findTornPages(this.memory);
  }
}

export function findTornPages(memory: GuestMemory): { region: number; page: number }[] {
  const bad: { region: number; page: number }[] = [];
  memory.regions.forEach((r, ri) => {
    for (let p = 0; p < r.pageCount; p++) {
      if (!checkPattern(memory.page(ri, p), p)) bad.push({ region: ri, page: p });
    }
  });
  return bad;
}
