import { createServer } from 'node:net';
import { waitForMigration } from './device-state.ts';
import { QemuError } from './errors.ts';
import type { QemuVm } from './qemu-vm.ts';

/** QEMU's own migration, for comparison: the options the benchmark varies. */
export interface QemuMigrationOptions {
  /** QEMU's downtime-limit, ms (its default is 300). */
  readonly maxDowntimeMs?: number;
  /** Bytes per second; 0 or absent: uncapped (QEMU's own default is 32 MiB/s, so it is set). */
  readonly maxBandwidth?: number;
  readonly xbzrle?: boolean;
  /** Start in pre-copy, then switch to post-copy after the first pass (`migrate-start-postcopy`). */
  readonly postcopy?: boolean;
  /**
   * QEMU never switches over a migration that does not converge (a guest dirtying faster than
   * the cap): after this long it is cancelled (`migrate_cancel`, the source runs on) and
   * `NOT_CONVERGED` thrown. Default 60 s.
   */
  readonly timeoutMs?: number;
}

export interface QemuMigrationResult {
  /** QEMU's `total-time` and `downtime` (ms, the source's view) and bytes of RAM and device state sent. */
  readonly totalMs: number;
  readonly downtimeMs: number;
  readonly bytesSent: number;
}

/** QEMU's "uncapped": the largest max-bandwidth it takes is far above what TCG can move. */
const UNCAPPED_BYTES_PER_SEC = 2 ** 40;

/**
 * Migrates with QEMU's own migration over loopback TCP (RAM and devices in QEMU's stream, no
 * x-ignore-shared), then quits the source. The destination runs on its own once the stream ends.
 */
export async function migrateVmWithQemu(
  source: QemuVm,
  destination: QemuVm,
  options: QemuMigrationOptions = {},
): Promise<QemuMigrationResult> {
  const port = await freePort();
  const capabilities = [
    { capability: 'xbzrle', state: options.xbzrle ?? false },
    { capability: 'postcopy-ram', state: options.postcopy ?? false },
  ];
  for (const vm of [source, destination]) await vm.qmp.execute('migrate-set-capabilities', { capabilities });
  await source.qmp.execute('migrate-set-parameters', {
    'downtime-limit': options.maxDowntimeMs ?? 300,
    'max-bandwidth': options.maxBandwidth || UNCAPPED_BYTES_PER_SEC,
    'max-postcopy-bandwidth': options.maxBandwidth || 0,
  });
  await destination.qmp.execute('migrate-incoming', { uri: `tcp:127.0.0.1:${port}` });
  await source.qmp.execute('migrate', { uri: `tcp:127.0.0.1:${port}` });
  if (options.postcopy) {
    // Post-copy begins once pre-copy's first pass is under way, as QEMU's own tests do.
    await waitForFirstPass(source);
    await source.qmp.execute('migrate-start-postcopy');
  }
  const timeoutMs = options.timeoutMs ?? 60_000;
  try {
    await waitForMigration(source, "QEMU's migration", timeoutMs);
  } catch (err) {
    const info = await source.qmp.execute<{ status: string }>('query-migrate');
    if (info.status === 'completed' || info.status === 'failed') throw err;
    await source.qmp.execute('migrate_cancel');
    throw new QemuError('NOT_CONVERGED', `QEMU's migration was still ${info.status} after ${timeoutMs} ms: cancelled, the source runs on`, {
      cause: err,
    });
  }
  // QEMU reports `completed` before it fills in the times: ask again.
  let info = await source.qmp.execute<{ 'total-time'?: number; downtime?: number; ram?: { transferred: number } }>('query-migrate');
  for (let i = 0; i < 50 && info.downtime === undefined; i++) {
    await new Promise((r) => setTimeout(r, 10));
    info = await source.qmp.execute('query-migrate');
  }
  await waitForMigration(destination, 'the destination', 600_000).catch(() => undefined);
  await source.quit();
  return { totalMs: info['total-time'] ?? Number.NaN, downtimeMs: info.downtime ?? Number.NaN, bytesSent: info.ram?.transferred ?? 0 };
}

async function waitForFirstPass(vm: QemuVm): Promise<void> {
  for (;;) {
    const info = await vm.qmp.execute<{ status: string; ram?: { 'dirty-sync-count': number } }>('query-migrate');
    if (info.status !== 'active' && info.status !== 'setup') return;
    if ((info.ram?.['dirty-sync-count'] ?? 0) >= 2) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
