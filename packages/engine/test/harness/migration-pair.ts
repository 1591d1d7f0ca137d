import type { MigrateOptions, MigrationReport } from '../../src/index.ts';
import { type DestinationHost, listenSink, type SinkOptions } from './listen-sink.ts';
import { type SourceHost, type SourceOptions, sourceHost } from './source-host.ts';

export interface MigrationPairOptions extends SourceOptions {
  /** How the destination listens, and its hooks (recorded either way). */
  readonly destination?: SinkOptions;
}

/** A source host and a real destination listening for it, on this machine. */
export interface MigrationPair extends SourceHost {
  readonly destination: DestinationHost;
  /** `migrate()` from the source to the destination, with `overrides` (a proxy's `port`, say). */
  migrate(overrides?: Partial<MigrateOptions>): Promise<MigrationReport>;
  /** Stops the guest and the destination's listener. Idempotent; also runs when the test finishes. */
  close(): Promise<void>;
}

/**
 * The set-up of a migration test in one call: memory of the given shape and content, the
 * write barrier (and a writer guest, when asked), a destination listening on 127.0.0.1, and
 * control planes on both sides that record every call. Call inside a test.
 *
 * ```ts
 * const pair = await migrationPair({ memory: 16 * MiB, fill: 'pattern', guest: { pagesPerSec: 2_000 } });
 * const report = await pair.migrate({ maxBandwidth: 50e6 });
 * expectSameMemory((await pair.destination.result).memory, pair.memory);
 * ```
 */
export async function migrationPair(options: MigrationPairOptions): Promise<MigrationPair> {
  const source = await sourceHost(options);
  const destination = await listenSink(options.destination);
  return {
    memory: source.memory,
    barrier: source.barrier,
    tracker: source.tracker,
    get guest() {
      return source.guest;
    },
    plane: source.plane,
    migrateTo: source.migrateTo,
    destination,
    migrate: (overrides) => source.migrateTo(destination.port, overrides),
    close: async () => {
      await source.close();
      await destination.close();
    },
  };
}
