/** A destination host in its own process for scenario benchmarks; reports over IPC. */
import { MigrationDestination } from '@ferry/engine';

const destination = await MigrationDestination.listen({
  controlPlane: { loadDeviceState: () => {}, resume: () => {} },
});
process.send?.({ type: 'listening', port: destination.port });
destination.result.then(
  (r) => {
    process.send?.({ type: 'resumed', digest: r.digest });
    setTimeout(() => process.exit(0), 50);
  },
  (err: { code?: string; message?: string }) => {
    process.send?.({ type: 'failed', code: err.code, message: err.message });
    setTimeout(() => process.exit(1), 50);
  },
);
