/** A destination host in its own process for scenario benchmarks; reports over IPC. */
import { MigrationDestination } from '@ferry/engine';

// Benchmarks that measure TLS pass the destination's credentials in the environment.
const tlsJson = process.env.FERRY_BENCH_TLS;
const destination = await MigrationDestination.listen({
  controlPlane: { loadDeviceState: () => {}, resume: () => {} },
  host: process.env.FERRY_BENCH_LISTEN ?? '127.0.0.1',
  // FERRY_BENCH_LISTEN is the shaped link's address (link/shaped-link.ts): a veth end inside the
  // bench's own private network namespace, which nothing outside this machine reaches. No psk
  // there on purpose: the benchmarks measure the plain protocol.
  insecure: process.env.FERRY_BENCH_LISTEN !== undefined,
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
