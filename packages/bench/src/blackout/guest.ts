import type { Worker } from 'node:worker_threads';
import type { GuestMemory } from '@ferry/engine';
import { startWorker } from '@ferry/engine/testing';
import { Ctl, type GuestAttach, type GuestData } from './guest-protocol.ts';

/** Heartbeats kept: 10 minutes at one per 10 ms. */
const MAX_BEATS = 60_000;

/** The main thread's handle on a blackout guest worker: pause (returns once it is parked), resume, heartbeats. */
export class BlackoutGuest {
  private readonly worker: Worker;
  private readonly ctl = new Int32Array(new SharedArrayBuffer(12));
  private readonly beats = new Float64Array(new SharedArrayBuffer(8 * (MAX_BEATS + 1)));

  /**
   * Starts the worker (its code loads now, not during the migration); it runs once `attach`
   * gives it memory, or stays parked until `resume` when `paused` (a destination's guest,
   * prepared before the pause and resumed by a signal).
   */
  constructor(o: { pagesPerSec: number; hotPages: number; paused?: boolean }) {
    if (o.paused) Atomics.store(this.ctl, Ctl.PAUSE, 1);
    const data: GuestData = {
      control: this.ctl.buffer as SharedArrayBuffer,
      heartbeats: this.beats.buffer as SharedArrayBuffer,
      pagesPerSec: o.pagesPerSec,
      hotPages: Math.max(1, o.hotPages),
    };
    this.worker = startWorker(new URL('./guest.worker.ts', import.meta.url), { workerData: data });
    this.worker.unref();
    this.worker.on('error', (err) => console.error(`blackout guest: ${err.stack ?? err}`));
  }

  /** Gives the worker its memory (mapped by the addon) and resolves once it has attached. */
  async attach(memory: GuestMemory, dirty?: SharedArrayBuffer): Promise<void> {
    const attached = new Promise<void>((resolve, reject) => {
      this.worker.once('message', () => resolve());
      this.worker.once('error', reject);
    });
    const message: GuestAttach = { mappingId: memory.region(0).mapping!.id, pageSize: memory.pageSize, ...(dirty && { dirty }) };
    this.worker.postMessage(message);
    await attached;
  }

  /** Resolves once the worker is parked: no write and no heartbeat after that. */
  async pause(): Promise<void> {
    Atomics.store(this.ctl, Ctl.PAUSE, 1);
    Atomics.notify(this.ctl, Ctl.PAUSE);
    while (Atomics.load(this.ctl, Ctl.PARKED) !== 1) await Atomics.waitAsync(this.ctl, Ctl.PARKED, 0, 5).value;
  }

  resume(): void {
    Atomics.store(this.ctl, Ctl.PAUSE, 0);
    Atomics.notify(this.ctl, Ctl.PAUSE);
  }

  /** Heartbeat stamps so far, ms on CLOCK_MONOTONIC. */
  heartbeats(): number[] {
    return Array.from(this.beats.subarray(1, 1 + this.beats[0]!));
  }

  async stop(): Promise<void> {
    Atomics.store(this.ctl, Ctl.STOP, 1);
    this.resume();
    await this.worker.terminate();
  }
}
