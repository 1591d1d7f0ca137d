import { GuestMemory, type ListenOptions, MigrationDestination } from '@ferry/engine';
import type { Layout } from '../src/scenario.ts';
import type { Target } from '../src/source/run.ts';

/**
 * A fresh Ferry destination (the engine's MigrationDestination) for each scenario of role
 * source: it takes only `layout` (another one is refused by its control plane) and `psk`;
 * `extra` narrows it further (features, encodings, frame limit).
 */
export function ferryDestination(layout: Layout, psk?: Buffer, extra: Partial<ListenOptions> = {}): () => Promise<Target> {
  return async () => {
    const d = await MigrationDestination.listen({
      pageSizes: [layout.pageSize],
      ...(psk && { psk }),
      recoveryTimeoutMs: 5000,
      ...extra,
      controlPlane: {
        admit: (g) =>
          JSON.stringify(g.layout.regions) === JSON.stringify(layout.regions) ? undefined : 'the conformance layout is expected',
        allocate: (l) => GuestMemory.fromLayout(l),
        loadDeviceState() {},
        resume() {},
      },
    });
    d.result.catch(() => {});
    return { host: '127.0.0.1', port: d.port, done: () => d.close() };
  };
}
