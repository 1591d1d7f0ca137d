/** A destination host in its own process for scenario benchmarks; reports over IPC. */
import { MigrationDestination } from '@ferry/engine';

// Benchmarks that measure TLS pass the destination's credentials in the environment.
const tlsJson = process.env.FERRY_BENCH_TLS;
const destination = await MigrationDestination.listen({
  controlPlane: { loadDeviceState: () => {}, resume: () => {} },
  host: process.env.FERRY_BENCH_LISTEN ?? '127.0.0.1',
  ...(tlsJson && { tls: JSON.parse(tlsJson) }),
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
