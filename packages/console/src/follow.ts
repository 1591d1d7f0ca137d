import type { MigrationEvent, MigrationHandle } from '@ferry/engine';
import type { ConsoleServer } from './server.ts';
import { Topic } from './topics.ts';

/** How often a followed migration's `status()` goes to the page, ms. */
const STATUS_EVERY_MS = 100;

/**
 * For a launcher that runs the migration in its own process (a `ferry migrate`, the QEMU example):
 * publishes the engine's events and its `status()` to the console in the topics the page draws.
 * Pass `onEvent` to `startMigration()`, then `follow(handle)`.
 */
export class MigrationFollower {
  private readonly server: ConsoleServer;
  private readonly now: () => number;

  /** `now`: seconds on the console's time axis (default: since the follower was made). */
  constructor(server: ConsoleServer, now?: () => number) {
    this.server = server;
    const epoch = performance.now();
    this.now = now ?? (() => (performance.now() - epoch) / 1000);
  }

  /** The engine's `onEvent`: each event to the page (a failure as its code and message). */
  readonly onEvent = (event: MigrationEvent): void => {
    const wire =
      event.type === 'failed'
        ? { type: 'failed', code: event.error.code, message: event.error.message, guestResumed: event.guestResumed }
        : event;
    this.server.publish(Topic.MIGRATION, { t: this.now(), event: wire });
  };

  /** Samples `status()` until the migration settles; resolves then (whatever the outcome). */
  async follow(handle: MigrationHandle, everyMs = STATUS_EVERY_MS): Promise<void> {
    const sample = (): void => this.server.publish(Topic.STATUS, { t: this.now(), status: handle.status() });
    const timer = setInterval(sample, everyMs);
    try {
      await handle.result.catch(() => {});
    } finally {
      clearInterval(timer);
      sample();
    }
  }
}
