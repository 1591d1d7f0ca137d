import type { CompressionMode, MigrationEvent, MigrationPlan, MigrationReport, MigrationStatus, ProbeResult } from '@ferry/engine';

/**
 * Control messages between the launcher (control plane, network, client) and the two host
 * processes, over the child_process IPC channel. Every message is a plain JSON object with a
 * `type`.
 */

/** Failure injected on purpose, to show the rollback path. */
export const InjectedFailure = {
  NONE: 'none',
  /** The destination refuses the device state: the migration fails while the guest is paused. */
  LOAD_DEVICE_STATE: 'load-device-state',
} as const;
export type InjectedFailure = (typeof InjectedFailure)[keyof typeof InjectedFailure];

export interface GuestConfig {
  readonly memoryMiB: number;
  readonly churnPagesPerSec: number;
}

/** A MigrationEvent as it crosses the process boundary (errors become code and message). */
export type WireEvent =
  | Exclude<MigrationEvent, { type: 'failed' }>
  | { readonly type: 'failed'; readonly code: string; readonly message: string; readonly guestResumed: boolean };

export type ToSource =
  | { readonly type: 'start'; readonly guest: GuestConfig }
  | {
      readonly type: 'migrate';
      readonly port: number;
      readonly maxDowntimeMs: number;
      readonly onWontConverge: 'abort' | 'switchover';
      readonly verify: 'auto' | 'tracker' | 'memory' | 'sent';
      readonly compression: CompressionMode;
      /** The pre-shared key both hosts authenticate each other with, hex. */
      readonly pskHex: string;
      readonly maxBandwidth: number;
      readonly channels: number;
      readonly timeoutMs: number;
    }
  /** Answer to `hold`: the proxy has stopped forwarding and nothing is in flight. */
  | { readonly type: 'held'; readonly ok: boolean; readonly reason: string }
  /** The console's "Check compatibility": probe() the destination at `port`. */
  | { readonly type: 'probe'; readonly port: number; readonly pskHex: string }
  /** The console's "Plan": plan() against the destination at `port`. */
  | {
      readonly type: 'plan';
      readonly port: number;
      readonly pskHex: string;
      readonly maxDowntimeMs: number;
      readonly verify: 'auto' | 'tracker' | 'memory' | 'sent';
    }
  /** The console's "Cancel": `MigrationHandle.cancel()`. */
  | { readonly type: 'cancel' }
  | { readonly type: 'shutdown' };

export type FromSource =
  | { readonly type: 'guest-ready'; readonly port: number; readonly bootMs: number }
  /** From the pause() hook: stop sending requests to the guest, tell me when none is in flight. */
  | { readonly type: 'hold' }
  /** From the resume() hook (migration failed): the guest runs here again, send traffic back. */
  | { readonly type: 'release' }
  | { readonly type: 'event'; readonly event: WireEvent }
  /** `MigrationHandle.status()`, sampled while the migration runs. */
  | { readonly type: 'status'; readonly status: MigrationStatus }
  | { readonly type: 'probed'; readonly result: ProbeResult }
  | { readonly type: 'planned'; readonly plan: MigrationPlan }
  | { readonly type: 'probe-failed'; readonly code: string; readonly message: string }
  | { readonly type: 'migrated'; readonly report: MigrationReport }
  | { readonly type: 'migrate-failed'; readonly code: string; readonly message: string }
  | { readonly type: 'fatal'; readonly message: string };

export type ToDestination =
  | {
      readonly type: 'start';
      readonly guest: GuestConfig;
      readonly inject: InjectedFailure;
      readonly pskHex: string;
      /** Page sizes this host takes (a host of another page size refuses the guest: the console's refusal). Default the guest's. */
      readonly pageSizes?: readonly number[];
    }
  /** Answer to `guest-ready`: the proxy points at the new guest and has released held requests. */
  | { readonly type: 'repointed' }
  | { readonly type: 'shutdown' };

export type FromDestination =
  | { readonly type: 'listening'; readonly port: number }
  /** From the resume() hook: the new guest serves on this port. */
  | { readonly type: 'guest-ready'; readonly port: number; readonly keys: number; readonly generation: number; readonly startMs: number }
  | {
      readonly type: 'incoming';
      readonly digest: string;
      readonly pagesReceived: number;
      readonly bytesReceived: number;
      readonly rounds: number;
      readonly deviceStateBytes: number;
    }
  | { readonly type: 'incoming-failed'; readonly code: string; readonly message: string }
  | { readonly type: 'fatal'; readonly message: string };

export interface Message {
  readonly type: string;
}

/** The two ends of an IPC channel look alike: a child process, or `process` inside the child. */
export interface IpcEndpoint {
  send?(message: unknown, callback?: (error: Error | null) => void): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
}

/**
 * Typed messages over an IPC endpoint: `send`, handlers by type, and `next(type)` to await one
 * message with a deadline. A message nobody handles or waits for is kept for a later `next`.
 * `close(reason)` fails every waiter (the peer went away).
 */
export class IpcChannel<Out extends Message, In extends Message> {
  private readonly endpoint: IpcEndpoint;
  private readonly handlers = new Map<string, (message: In) => void>();
  private readonly waiters = new Set<{ type: string; resolve(m: In): void; reject(e: Error): void }>();
  private readonly backlog: In[] = [];
  private closedReason: Error | undefined;

  constructor(endpoint: IpcEndpoint) {
    this.endpoint = endpoint;
    endpoint.on('message', (raw) => this.dispatch(raw as In));
  }

  send(message: Out): void {
    if (this.closedReason || !this.endpoint.send) return;
    try {
      this.endpoint.send(message, () => {});
    } catch {
      // The channel closed under us; the exit handler reports it.
    }
  }

  on<T extends In['type']>(type: T, handler: (message: Extract<In, { type: T }>) => void): void {
    this.handlers.set(type, handler as (message: In) => void);
  }

  /** The next message of one of `types`, or a rejection after `timeoutMs`. */
  next<T extends In['type']>(types: T | readonly T[], timeoutMs: number, what: string): Promise<Extract<In, { type: T }>> {
    const wanted: readonly string[] = typeof types === 'string' ? [types] : types;
    const early = this.backlog.findIndex((m) => wanted.includes(m.type));
    if (early >= 0) return Promise.resolve(this.backlog.splice(early, 1)[0] as Extract<In, { type: T }>);
    if (this.closedReason) return Promise.reject(this.closedReason);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      const waiter = {
        type: wanted.join('|'),
        resolve: (m: In) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(m as Extract<In, { type: T }>);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          reject(e);
        },
      };
      this.waiters.add(waiter);
    });
  }

  close(reason: Error): void {
    if (this.closedReason) return;
    this.closedReason = reason;
    for (const w of [...this.waiters]) w.reject(reason);
  }

  private dispatch(message: In): void {
    for (const w of this.waiters) {
      if (w.type.split('|').includes(message.type)) {
        w.resolve(message);
        return;
      }
    }
    const handler = this.handlers.get(message.type);
    if (handler) handler(message);
    else this.backlog.push(message);
  }
}
