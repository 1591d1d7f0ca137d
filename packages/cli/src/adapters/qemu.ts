import { randomBytes } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestMemory, HashScanTracker, layoutMismatch, loadKernels } from '@ferry/engine';
import { UsageError } from '../usage-error.ts';
import type { AdapterOptions, DestinationGuest, GuestAdapter, SourceGuest } from './adapter.ts';

/** What this adapter uses of examples/qemu (src/qmp.ts, src/device-state.ts, src/compat.ts). */
interface Qmp {
  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T>;
  close(): void;
}
interface Vm {
  readonly qmp: Qmp;
}
interface QemuFacts {
  readonly version: string;
  readonly machine: string;
  readonly ramBytes: number;
  readonly ignoreShared: boolean;
  readonly status: string;
}
interface QemuModules {
  connect(path: string): Promise<Qmp>;
  qemuFacts(vm: Vm): Promise<QemuFacts>;
  ignoreSharedRam(vm: Vm): Promise<void>;
  saveDeviceState(vm: Vm, path: string): Promise<Uint8Array>;
  loadDeviceState(vm: Vm, path: string, state: Uint8Array): Promise<void>;
}

/**
 * The QMP client and the x-ignore-shared device state live in the QEMU example: there in a Ferry
 * checkout, not in an install. Loaded by name at run time, so that the command builds and
 * installs without it (as the kv adapter loads the kv demo's guest).
 */
const QEMU_MODULES = ['@ferry/example-qemu/qmp', '@ferry/example-qemu/device-state', '@ferry/example-qemu/compat'];

async function qemuModules(): Promise<QemuModules> {
  try {
    const [qmp, device, compat] = await Promise.all(QEMU_MODULES.map((m) => import(m)));
    return {
      connect: (path) => qmp.QmpClient.connect(path),
      qemuFacts: compat.qemuFacts,
      ignoreSharedRam: device.ignoreSharedRam,
      saveDeviceState: device.saveDeviceState,
      loadDeviceState: device.loadDeviceState,
    };
  } catch (err) {
    throw new UsageError(
      `--guest qemu needs the QEMU example's control plane (examples/qemu, in a Ferry checkout): ${(err as Error).message}`,
    );
  }
}

/** Connects to `--qmp` and checks `--ram` is this VM's RAM: a file of its RAM size, on a shared backend. */
async function attach(o: AdapterOptions, side: 'source' | 'destination'): Promise<{ q: QemuModules; vm: Vm; facts: QemuFacts }> {
  if (!o.qmp || !o.ram) throw new UsageError('--guest qemu needs --qmp SOCKET (the QEMU monitor) and --ram FILE (its shared RAM file)');
  if (!existsSync(o.ram)) throw new UsageError(`--ram ${o.ram} does not exist`);
  const q = await qemuModules();
  const qmp = await q.connect(o.qmp).catch((err: Error) => {
    throw new UsageError(`--qmp ${o.qmp}: ${err.message}`);
  });
  const vm = { qmp };
  try {
    const facts = await q.qemuFacts(vm);
    const want = side === 'source' ? 'running' : 'inmigrate';
    if (facts.status !== want)
      throw new UsageError(
        `the QEMU at --qmp ${o.qmp} is ${facts.status}: a ${side} must be ${want}${side === 'destination' ? ' (started with -incoming defer)' : ''}`,
      );
    if (!facts.ignoreShared) throw new UsageError(`the QEMU at --qmp ${o.qmp} has no x-ignore-shared migration capability`);
    const size = statSync(o.ram).size;
    if (size !== facts.ramBytes) throw new UsageError(`--ram ${o.ram} has ${size} B, the VM ${facts.ramBytes} B of RAM: not its RAM file`);
    // Only a shared file backend lets Ferry see the guest's RAM, and lets x-ignore-shared leave it out of QEMU's stream.
    const memdevs = await qmp.execute<{ size: number; share: boolean }[]>('query-memdev');
    if (!memdevs.some((m) => m.share && m.size === facts.ramBytes))
      throw new UsageError(`the QEMU at --qmp ${o.qmp} has no shared memory backend of ${facts.ramBytes} B (memory-backend-file share=on)`);
    await q.ignoreSharedRam(vm);
    return { q, vm, facts };
  } catch (err) {
    qmp.close();
    throw err;
  }
}

/** Both sides name the VMM the same way: the destination admits only the same QEMU and machine type. */
function qemuId(f: QemuFacts): string {
  return `qemu ${f.version} ${f.machine}`;
}

/** Where QEMU's device state passes through (QEMU's `exec:cat` writes and reads it): a tmpfs where there is one. */
function scratchFile(direction: 'out' | 'in'): string {
  return join(
    existsSync('/dev/shm') ? '/dev/shm' : tmpdir(),
    `ferry-qemu-${direction}-${process.pid}-${randomBytes(4).toString('hex')}.state`,
  );
}

/**
 * A running QEMU VM, by its QMP socket and its RAM file (a `memory-backend-file` with share=on).
 * The source maps the RAM file read-only and tracks QEMU's writes by hashing pages (they come
 * from another process: no write barrier sees them); pausing is QMP `stop`, the device state is
 * QEMU's own migration stream with x-ignore-shared (no RAM in it), and once the destination runs
 * the VM the source QEMU is told to `quit`. The destination QEMU waits with `-incoming defer`:
 * Ferry writes the pages straight into its RAM file, `migrate-incoming` loads the device state,
 * and `cont` runs it. Both sides check the QEMU state and RAM file first; the destination admits
 * only a guest from the same QEMU version and machine type with its RAM size.
 */
export const qemuAdapter: GuestAdapter = {
  name: 'qemu',
  summary: 'a QEMU VM (--qmp its monitor socket, --ram its shared RAM file; the destination started with -incoming defer)',

  async source(o: AdapterOptions): Promise<SourceGuest> {
    const { q, vm, facts } = await attach(o, 'source');
    const memory = GuestMemory.map({ regions: [{ name: 'ram0', file: o.ram!, writable: false }] });
    return {
      memory,
      tracker: new HashScanTracker(memory, await loadKernels()),
      guestId: qemuId(facts),
      info: { qmp: o.qmp, ram: o.ram, ramBytes: facts.ramBytes, qemu: facts.version, machine: facts.machine },
      controlPlane: {
        pause: () => vm.qmp.execute('stop').then(() => undefined),
        resume: () => vm.qmp.execute('cont').then(() => undefined),
        saveDeviceState: () => q.saveDeviceState(vm, scratchFile('out')),
        // The destination runs the VM now: this one must never run again. QEMU closes QMP as it quits.
        release: () =>
          vm.qmp.execute('quit').then(
            () => undefined,
            () => undefined,
          ),
      },
      close: async () => {
        memory.unmap();
        vm.qmp.close();
      },
    };
  },

  async destination(o: AdapterOptions): Promise<DestinationGuest> {
    const { q, vm, facts } = await attach(o, 'destination');
    let memory: GuestMemory | undefined;
    let running = false;
    return {
      // QEMU runs the VM, not this process: `ferry listen` may exit once it does.
      runsGuest: false,
      info: () => ({ qmp: o.qmp, ram: o.ram, ramBytes: facts.ramBytes, running }),
      controlPlane: {
        admit(guest) {
          if (guest.guestId !== qemuId(facts)) return `this host runs ${qemuId(facts)}; the guest comes from '${guest.guestId}'`;
          const [ram, ...more] = guest.layout.regions;
          if (!ram || more.length > 0 || ram.sizeBytes !== facts.ramBytes) return `this QEMU has one RAM block of ${facts.ramBytes} B`;
          return undefined;
        },
        // Ferry writes straight into the file the destination QEMU maps: nothing to copy after.
        allocate(layout) {
          const mapped = GuestMemory.map({ pageSize: layout.pageSize, regions: [{ name: 'ram0', file: o.ram! }] });
          const mismatch = layoutMismatch(layout, mapped.layout);
          if (mismatch) {
            mapped.unmap();
            throw new Error(`the destination's RAM file does not fit the guest: ${mismatch}`);
          }
          memory = mapped;
          return mapped;
        },
        loadDeviceState: (state) => q.loadDeviceState(vm, scratchFile('in'), state),
        async resume() {
          await vm.qmp.execute('cont');
          running = true;
          // QEMU announces itself after an incoming migration; once more now that it runs, so switches learn where it is.
          await vm.qmp.execute('announce-self', { initial: 0, max: 100, rounds: 3, step: 50 }).catch(() => undefined);
        },
        discard() {
          memory?.unmap();
          memory = undefined;
        },
      },
      close: async () => {
        memory?.unmap();
        memory = undefined;
        vm.qmp.close();
      },
    };
  },
};
