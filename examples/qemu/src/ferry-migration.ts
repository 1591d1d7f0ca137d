import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import {
  type CompressionMode,
  GuestMemory,
  HashScanTracker,
  layoutMismatch,
  loadKernels,
  type MigrationEvent,
  MigrationDestination,
  type MigrationReport,
  type MigrationHandle,
  startMigration,
} from '@ferry/engine';
import { checkCompatible } from './compat.ts';
import { ignoreSharedRam, loadDeviceState, saveDeviceState } from './device-state.ts';
import { QemuError } from './errors.ts';
import type { QemuVm } from './qemu-vm.ts';

export interface FerryVmMigrationOptions {
  /** Where the device state passes through on each side (a tmpfs, e.g. /dev/shm). */
  readonly scratchDir: string;
  readonly maxDowntimeMs?: number;
  /** Bytes per second; 0 or absent: uncapped. */
  readonly maxBandwidth?: number;
  readonly compression?: CompressionMode;
  readonly onEvent?: (event: MigrationEvent) => void;
  /** Called with the migration's handle as it starts (`status()` for a console, `cancel()`). */
  readonly onStart?: (handle: MigrationHandle) => void;
  /** Called once pre-copy has started (the test kills the destination QEMU here). */
  readonly onPrecopyRound?: (round: number) => void;
}

export interface FerryVmMigration {
  readonly report: MigrationReport;
  /** Bytes of QEMU device state that crossed as Ferry device state. */
  readonly deviceStateBytes: number;
  /** From `stop` on the source to `cont` answered on the destination, as the control plane timed it. */
  readonly pausedMs: number;
}

/**
 * Migrates a running QEMU VM from `source` to `destination` (started with `-incoming defer`) with
 * Ferry, both sides in this process as a single control plane would for a move on one host:
 * check compatibility, map both RAM files, pre-copy tracking QEMU's writes by hash scan, pause
 * with QMP `stop`, carry QEMU's x-ignore-shared device state as Ferry device state, load it with
 * `migrate-incoming`, `cont` the destination, and only after Ferry's commit quit the source.
 * Any failure before the commit leaves the source VM running (`cont` again) and throws.
 */
export async function migrateVmWithFerry(source: QemuVm, destination: QemuVm, options: FerryVmMigrationOptions): Promise<FerryVmMigration> {
  const psk = randomBytes(32);
  const tag = randomBytes(4).toString('hex');
  let pausedAt = 0;
  let resumedAt = 0;
  await Promise.all([ignoreSharedRam(source), ignoreSharedRam(destination)]);

  const incoming = await MigrationDestination.listen({
    psk,
    controlPlane: {
      admit: (guest) =>
        guest.layout.regions.length === 1 && guest.layout.regions[0]!.sizeBytes === destination.spec.ramBytes
          ? undefined
          : `this QEMU has one RAM block of ${destination.spec.ramBytes} B`,
      // Ferry writes straight into the file the destination QEMU maps: nothing to copy after.
      allocate: (layout) => {
        const memory = GuestMemory.map({ regions: [{ name: 'ram0', file: destination.spec.ramPath }] });
        const mismatch = layoutMismatch(layout, memory.layout);
        if (mismatch) {
          memory.unmap();
          throw new QemuError('VM_INCOMPATIBLE', `the destination's RAM file does not fit: ${mismatch}`);
        }
        return memory;
      },
      loadDeviceState: (state) => loadDeviceState(destination, join(options.scratchDir, `ferry-qemu-in-${tag}.state`), state),
      resume: async () => {
        await destination.qmp.execute('cont');
        resumedAt = performance.now();
        // QEMU announces itself after an incoming migration; once more now that it runs.
        await destination.qmp.execute('announce-self', { initial: 0, max: 100, rounds: 3, step: 50 }).catch(() => undefined);
      },
    },
  });

  const memory = GuestMemory.map({ regions: [{ name: 'ram0', file: source.spec.ramPath }] });
  const abort = new AbortController();
  // A destination QEMU that dies before the commit fails the migration; the source then resumes.
  void destination.exited.then((why) => abort.abort(new QemuError('QEMU_EXITED', `the destination QEMU ${why}`)));
  try {
    const refusals = await checkCompatible(source, destination, { host: '127.0.0.1', port: incoming.port, psk, layout: memory.layout });
    if (refusals.length > 0)
      throw new QemuError(
        'VM_INCOMPATIBLE',
        `the destination cannot take this VM: ${refusals.map((r) => `${r.check}: ${r.reason}`).join('; ')}`,
      );
    let deviceStateBytes = 0;
    const handle = startMigration({
      host: '127.0.0.1',
      port: incoming.port,
      psk,
      memory,
      // QEMU writes the RAM from its own process: no write barrier reaches it, and userfaultfd
      // write-protection in this process sees only this process's mapping; a hash scan sees all.
      tracker: new HashScanTracker(memory, await loadKernels()),
      guestId: `qemu-${source.pid}`,
      signal: abort.signal,
      controlPlane: {
        pause: async () => {
          await source.qmp.execute('stop');
          pausedAt = performance.now();
        },
        resume: () => source.qmp.execute('cont').then(() => undefined),
        saveDeviceState: async () => {
          const state = await saveDeviceState(source, join(options.scratchDir, `ferry-qemu-out-${tag}.state`));
          deviceStateBytes = state.byteLength;
          return state;
        },
        release: () => source.quit(),
      },
      ...(options.maxDowntimeMs !== undefined && { maxDowntimeMs: options.maxDowntimeMs }),
      ...(options.maxBandwidth ? { maxBandwidth: options.maxBandwidth } : {}),
      ...(options.compression !== undefined && { compression: options.compression }),
      deviceStateBytes: 256 * 1024,
      // The hash scan's final sync, guest paused, already hashes every page and compares it with
      // the destination's copy, resending any that differ: hashing all memory again for the
      // digest would only compete with it for the cores during downtime.
      verify: 'sent',
      onEvent: (e) => {
        options.onEvent?.(e);
        if (e.type === 'round-end') options.onPrecopyRound?.(e.stats.round);
      },
    });
    options.onStart?.(handle);
    const report = await handle.result;
    await incoming.result;
    return { report, deviceStateBytes, pausedMs: resumedAt - pausedAt };
  } catch (err) {
    // The engine already called resume() if it had paused; a source stopped by a failure outside
    // the engine (QMP, the compatibility check) is resumed here.
    if (source.running && (await source.status().catch(() => 'gone')) !== 'running')
      await source.qmp.execute('cont').catch(() => undefined);
    throw err;
  } finally {
    memory.unmap();
    await incoming.close();
    void incoming.result.then((m) => m.memory.unmap()).catch(() => undefined);
  }
}
