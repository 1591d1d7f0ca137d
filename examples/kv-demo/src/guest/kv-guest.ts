import type { Worker } from 'node:worker_threads';
import type { GuestMemory } from '@ferry/engine';
import { startWorker } from '@ferry/engine/testing';
import { Control, type GuestBoot, type GuestLoaded, type GuestPrepared, type GuestReady, type GuestStart } from './guest-protocol.ts';
import { createRegisterFile, loadRegisters, type Registers, storeRegisters } from './registers.ts';

/** A guest thread with its code loaded, waiting for memory to run over. */
export interface LoadedGuest {
  /** Hands the thread its memory: it attaches to it and opens its server socket, and waits. */
  prepare(options: KvGuestOptions): Promise<PreparedGuest>;
  /** `prepare` then `start`. */
  run(options: KvGuestOptions): Promise<KvGuest>;
  terminate(): Promise<void>;
}

/** A guest ready to run on its memory (as a VMM started paused with `-incoming`): starting it is a signal. */
export interface PreparedGuest {
  /** Where its server listens already. */
  readonly port: number;
  /** Runs the guest; given registers (a migrated guest's), it resumes with them instead of booting. */
  start(registers?: Registers): Promise<KvGuest>;
}

export interface KvGuestOptions {
  readonly memory: GuestMemory;
  /** The write barrier's shared bitmaps, from `WriteBarrierTracker.sharedBuffers()`. */
  readonly dirty: SharedArrayBuffer[];
  readonly hostName: string;
  readonly churnPagesPerSec: number;
  /** Resume over `memory` with these registers; without them the guest formats memory and boots (given to `start` when prepared). */
  readonly registers?: Registers;
  /** With `prepare`: whether `start` will boot the guest (true) or resume it with registers. Default: no `registers`. */
  readonly boot?: boolean;
  readonly startTimeoutMs?: number;
}

/**
 * The host's handle on a key-value guest: starts its worker, pauses and resumes it for real,
 * and reads its registers while it is parked.
 */
export class KvGuest {
  private readonly worker: Worker;
  private readonly ctl: Int32Array;
  private readonly registerFile: Float64Array;
  private stopped = false;
  readonly port: number;
  readonly ready: GuestReady;
  /** Settles when the worker ends; rejects if it crashed. */
  readonly exited: Promise<void>;

  private constructor(worker: Worker, ctl: Int32Array, registerFile: Float64Array, ready: GuestReady, exited: Promise<void>) {
    this.worker = worker;
    this.ctl = ctl;
    this.registerFile = registerFile;
    this.ready = ready;
    this.port = ready.port;
    this.exited = exited;
  }

  /**
   * Starts a guest: a fresh thread that boots it (or resumes it, given registers) over
   * `options.memory`. Same as `KvGuest.load()` followed by `run()`.
   */
  static async start(options: KvGuestOptions): Promise<KvGuest> {
    const loaded = await KvGuest.load(options.startTimeoutMs);
    return loaded.run(options);
  }

  /**
   * Starts the guest's thread and loads its code, without memory yet. A destination does this
   * before the migration arrives (as a hypervisor starts the VM's process with `-incoming`), so
   * that resuming only hands over memory and registers.
   */
  static async load(timeoutMs = 30_000): Promise<LoadedGuest> {
    const worker = startWorker(new URL('./kv-guest.worker.ts', import.meta.url));
    const exited = new Promise<number>((resolve, reject) => {
      worker.once('error', reject);
      worker.once('exit', resolve);
    });
    exited.catch(() => {});
    try {
      await withDeadline(waitFor<GuestLoaded>(worker, 'loaded', exited), timeoutMs, 'the guest thread to load');
    } catch (err) {
      await worker.terminate();
      throw err;
    }
    const prepare = async (options: KvGuestOptions): Promise<PreparedGuest> => {
      const region = options.memory.region(0);
      const ctl = new Int32Array(new SharedArrayBuffer(4));
      const registerFile = createRegisterFile();
      const boot: GuestBoot = {
        type: 'boot',
        // A mapped region is not a SharedArrayBuffer (posting it would copy it): the worker attaches to the mapping.
        memory: region.mapping ? { mappingId: region.mapping.id } : (region.bytes.buffer as SharedArrayBuffer),
        dirty: options.dirty,
        control: ctl.buffer as SharedArrayBuffer,
        registerFile: registerFile.buffer as SharedArrayBuffer,
        boot: options.boot ?? options.registers === undefined,
        hostName: options.hostName,
        churnPagesPerSec: options.churnPagesPerSec,
        pageSize: options.memory.pageSize,
      };
      const timeoutMs = options.startTimeoutMs ?? 30_000;
      let guest: KvGuest | undefined;
      const stopped = exited.then((code) => {
        if (!guest?.stopped && code !== 0) throw new Error(`guest worker exited with code ${code}`);
      });
      stopped.catch(() => {});
      const fail = async (err: unknown): Promise<never> => {
        await worker.terminate();
        throw err;
      };
      const prepared = waitFor<GuestPrepared>(worker, 'prepared', exited);
      worker.postMessage(boot);
      const { port } = await withDeadline(prepared, timeoutMs, 'the guest to attach its memory').catch(fail);
      return {
        port,
        start: async (registers) => {
          if (registers) storeRegisters(registerFile, registers);
          const ready = waitFor<GuestReady>(worker, 'ready', exited);
          worker.postMessage({ type: 'start' } satisfies GuestStart);
          guest = new KvGuest(worker, ctl, registerFile, await withDeadline(ready, timeoutMs, 'the guest to start').catch(fail), stopped);
          return guest;
        },
      };
    };
    return {
      prepare,
      run: async (options) => (await prepare(options)).start(options.registers),
      terminate: async () => {
        await worker.terminate();
      },
    };
  }

  get paused(): boolean {
    return Atomics.load(this.ctl, Control.STATE) === Control.PAUSED;
  }

  /** Returns once the worker is parked: no request or churn write is in flight. */
  async pause(timeoutMs = 5000): Promise<void> {
    if (Atomics.compareExchange(this.ctl, Control.STATE, Control.RUNNING, Control.PAUSE_REQUESTED) !== Control.RUNNING) return;
    Atomics.notify(this.ctl, Control.STATE);
    const deadline = performance.now() + timeoutMs;
    while (Atomics.load(this.ctl, Control.STATE) === Control.PAUSE_REQUESTED) {
      const left = deadline - performance.now();
      if (left <= 0) {
        // Take the request back if the guest has not seen it, so the caller's view stays true.
        if (Atomics.compareExchange(this.ctl, Control.STATE, Control.PAUSE_REQUESTED, Control.RUNNING) === Control.PAUSE_REQUESTED) {
          throw new Error(`guest did not pause within ${timeoutMs} ms`);
        }
        break;
      }
      const wait = Atomics.waitAsync(this.ctl, Control.STATE, Control.PAUSE_REQUESTED, Math.min(left, 100));
      if (wait.async) await wait.value;
    }
  }

  resume(): void {
    if (Atomics.compareExchange(this.ctl, Control.STATE, Control.PAUSED, Control.RUNNING) === Control.PAUSED) {
      Atomics.notify(this.ctl, Control.STATE);
    }
  }

  /** The registers the guest stored when it parked. Only meaningful while paused. */
  registers(): Registers {
    if (!this.paused) throw new Error('registers are only saved while the guest is paused');
    return loadRegisters(this.registerFile);
  }

  /** Powers the guest off. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.worker.terminate();
  }
}

/** The worker's next message of `type`; rejects if the worker exits first. */
function waitFor<T extends { type: string }>(worker: Worker, type: T['type'], exited: Promise<number>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onMessage = (m: { type: string }): void => {
      if (m.type !== type) return;
      worker.off('message', onMessage);
      resolve(m as T);
    };
    worker.on('message', onMessage);
    exited.then(
      (code) => reject(new Error(`guest worker exited with code ${code} before it was ${type}`)),
      (err: unknown) => reject(err),
    );
  });
}

async function withDeadline<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
