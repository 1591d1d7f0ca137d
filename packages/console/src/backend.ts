/**
 * What the console needs from whoever mounts it (the kv-demo launcher, the QEMU example, a `ferry`
 * host): the hosts and guests it shows, and the actions behind its buttons.
 */

export interface ConsoleGuest {
  readonly id: string;
  readonly name: string;
  readonly memoryBytes: number;
  readonly pageSize: number;
  /** The guest's dirty rate as last measured, pages per second (0 before any measurement). */
  readonly dirtyPagesPerSec: number;
  /** `running`, `paused`, `migrating`, `moved` (runs elsewhere now), `stopped`. */
  readonly state: string;
}

export interface ConsoleHost {
  readonly id: string;
  readonly name: string;
  /** `host:port` where its migration listener (destination) or guest (source) is. */
  readonly address: string;
  /** Page sizes this host takes, bytes. */
  readonly pageSizes: readonly number[];
  /** `up` or `down` (its process is gone). */
  readonly state: string;
  /** One line about the host, e.g. why it is there. */
  readonly note?: string;
  readonly guests: readonly ConsoleGuest[];
}

export interface ConsoleSnapshot {
  readonly hosts: readonly ConsoleHost[];
  /** The downtime limit migrations run under, ms. */
  readonly maxDowntimeMs: number;
  /** Which actions the backend takes (buttons for the others are hidden). */
  readonly actions: readonly ConsoleAction[];
  /** `idle`, `migrating`, `completed`, `failed`. */
  readonly migration: string;
}

/**
 * The console's buttons. `check`, `plan` and `migrate` take `{ guest, target }` (ids); `cancel`
 * and `kill-destination` (a demo's fault injection) take nothing.
 */
export type ConsoleAction = 'check' | 'plan' | 'migrate' | 'cancel' | 'kill-destination';

export interface ConsoleBackend {
  snapshot(): ConsoleSnapshot;
  /** Runs an action; its result goes back to the page as JSON. Throw `ConsoleActionError` for a 4xx. */
  act(action: string, args: Readonly<Record<string, unknown>>): Promise<unknown>;
}

/** An action the backend refuses (unknown, bad arguments, wrong moment): answered with `status`, not 500. */
export class ConsoleActionError extends Error {
  readonly code: string;
  readonly status: number;

  constructor(code: string, message: string, status = 409) {
    super(message);
    this.code = code;
    this.status = status;
  }
}
