import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { QemuError } from './errors.ts';
import type { QemuVm } from './qemu-vm.ts';

/** All these need of a VM: its QMP connection (a `QemuVm`, or a bare client as `ferry --guest qemu` has). */
export type QmpTarget = Pick<QemuVm, 'qmp'>;

interface MigrateInfo {
  status: string;
  'error-desc'?: string;
  'total-time'?: number;
  downtime?: number;
  ram?: { transferred: number; total: number };
}

/** Turns on x-ignore-shared: QEMU's stream then skips RAM in shared memory backends (Ferry moves it). */
export async function ignoreSharedRam(vm: QmpTarget): Promise<void> {
  await vm.qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'x-ignore-shared', state: true }] });
}

/** Polls `query-migrate` until QEMU's migration leaves its running states; throws on `failed`. */
export async function waitForMigration(vm: QmpTarget, what: string, timeoutMs = 60_000): Promise<MigrateInfo> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const info = await vm.qmp.execute<MigrateInfo>('query-migrate');
    if (info.status === 'completed') return info;
    if (info.status === 'failed' || info.status === 'cancelled')
      throw new QemuError('DEVICE_STATE_FAILED', `${what}: QEMU's migration ${info.status}: ${info['error-desc'] ?? 'no reason given'}`);
    if (performance.now() > deadline) throw new QemuError('DEVICE_STATE_FAILED', `${what}: still ${info.status} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/**
 * The paused source's device state: QEMU's own migration stream with x-ignore-shared, written to
 * `path` through `exec:` (QEMU 7.2 has no `file:` URI, and a `getfd` fd would need SCM_RIGHTS,
 * which Node's sockets cannot send). Without the RAM it is a few hundred KiB: CPU and device
 * state plus the ROM blocks, which are not in the shared file.
 */
export async function saveDeviceState(vm: QmpTarget, path: string): Promise<Uint8Array> {
  await vm.qmp.execute('migrate', { uri: `exec:cat > ${shellQuote(path)}` });
  await waitForMigration(vm, 'saving device state');
  try {
    return readFileSync(path);
  } finally {
    rmSync(path, { force: true });
  }
}

/**
 * Loads device state into a destination started with `-incoming defer`, whose RAM file Ferry
 * has filled: QEMU's `migrate-incoming` reads the bytes and leaves the VM paused (the source
 * was paused when they were saved) until `cont`.
 */
export async function loadDeviceState(vm: QmpTarget, path: string, state: Uint8Array): Promise<void> {
  writeFileSync(path, state);
  try {
    await vm.qmp.execute('migrate-incoming', { uri: `exec:cat ${shellQuote(path)}` });
    await waitForMigration(vm, 'loading device state');
  } finally {
    rmSync(path, { force: true });
  }
}

export function shellQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}
