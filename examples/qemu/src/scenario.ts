import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type ClientGaps, PingClient, TcpClient } from './clients.ts';
import { type FerryVmMigrationOptions, migrateVmWithFerry } from './ferry-migration.ts';
import { kvRequest } from './kv-request.ts';
import { removeLeftovers } from './leftovers.ts';
import { BridgeNamespace, GUEST_IP, GUEST_MAC } from './network.ts';
import { type QemuMigrationOptions, migrateVmWithQemu } from './qemu-migration.ts';
import { QemuVm } from './qemu-vm.ts';
import { type Heartbeat, longestHeartbeatGapMs } from './serial-console.ts';
import type { DowntimeBreakdown, MigrationEvent, MigrationHandle } from '@ferry/engine';
import type { VmNetwork, VmSpec } from './vm-spec.ts';

const cacheDir = fileURLToPath(new URL('../.cache/', import.meta.url));

/** The kernel and initramfs scripts/install.sh builds, or why the example cannot run here. */
export function guestImage(): { kernel: string; initrd: string } | { missing: string } {
  const kernel = join(cacheDir, 'vmlinuz');
  const initrd = join(cacheDir, 'initramfs.gz');
  if (!existsSync(kernel) || !existsSync(initrd)) return { missing: `no guest image in ${cacheDir}: run examples/qemu/scripts/install.sh` };
  return { kernel, initrd };
}

export interface ScenarioOptions {
  /** Who moves the VM: Ferry (x-ignore-shared, RAM by Ferry) or QEMU's own migration. */
  readonly mover:
    | { kind: 'ferry'; options?: Omit<FerryVmMigrationOptions, 'scratchDir'> }
    | { kind: 'qemu'; options?: QemuMigrationOptions };
  /** Guest RAM; default 256 MiB - 8 KiB (see VmSpec.ramBytes on why not a round size). */
  readonly ramBytes?: number;
  readonly hotMiB?: number;
  readonly ratePagesPerSec?: number;
  readonly accel?: 'tcg' | 'kvm';
  /** The guest runs this long with the clients on before the migration starts, and after it ends. */
  readonly warmupMs?: number;
  readonly afterMs?: number;
  /** Called with both VMs once the destination QEMU is up, before the move (the crash test's hook). */
  readonly onDestinationStarted?: (source: QemuVm, destination: QemuVm) => void;
  /** Watches the run as it happens (the web console, src/qemu-console.ts). */
  readonly observer?: ScenarioObserver;
}

/** What a run shows as it happens: the VMs' serial consoles, every ping reply, the steps, Ferry's migration. */
export interface ScenarioObserver {
  /** A line of a VM's serial console (a heartbeat with its figures parsed). */
  serial?(vm: 'source' | 'destination', line: string, heartbeat?: Heartbeat): void;
  /** A ping reply: its kernel time stamp (epoch ms) and round-trip time. */
  ping?(atEpochMs: number, rttMs: number): void;
  /** A step of the run, as a log line. */
  step?(line: string): void;
  /** Ferry's migration started (its `status()` and `cancel()`), and each of its events. */
  migrationStarted?(handle: MigrationHandle): void;
  migrationEvent?(event: MigrationEvent): void;
}

export interface ScenarioReport {
  readonly mover: 'ferry' | 'qemu';
  readonly accel: 'tcg' | 'kvm';
  readonly network: 'bridge' | 'user';
  readonly ramBytes: number;
  /** The move itself: set when it completed. */
  readonly migration?: {
    totalMs: number;
    downtimeMs: number;
    bytesSent: number;
    deviceStateBytes?: number;
    rounds?: number;
    /** Ferry: from QMP `stop` answered on the source to `cont` answered on the destination, as the control plane timed it, ms. */
    pausedMs?: number;
    /** Ferry's downtime in parts (pause, final round, device state, digest, handover), ms; and the destination's resume, part of the handover. */
    downtimeParts?: DowntimeBreakdown & { destinationResumeMs: number };
  };
  /** Why the move failed, when it did. */
  readonly error?: string;
  /** Longest time between two guest heartbeats reaching the host (serial console) from 1 s before the move on, ms. */
  readonly heartbeatGapMs: number;
  /** From the source's last heartbeat to the destination's first: the switchover as the guest's console shows it, ms. */
  readonly switchoverGapMs?: number;
  readonly ping?: ClientGaps;
  readonly tcp?: ClientGaps;
  /**
   * Pages per second the guest's dirtier actually wrote on the source while the move ran (its
   * heartbeats' write counts): below the set rate when migration slows the guest (QEMU's dirty
   * logging under TCG does), at it when it does not.
   */
  readonly guestWritesPerSec?: number;
  /** The guest's own checker on the VM running at the end: pages checked, bad pages found. */
  readonly checker: { checked: number; bad: number; heartbeatsAfter: number };
  /** The value written to the service before the move, and what it answered after. */
  readonly state: { written: string; readBack: string };
  /** Which QEMU runs the guest at the end, and whether the other one is gone. */
  readonly runningOn: 'source' | 'destination';
  readonly sourceExited: boolean;
}

/**
 * One full run of the example: a bridge namespace (or user networking where namespaces are not
 * allowed), a source VM running the workload, a value written to its service, ping and TCP
 * clients on, a destination QEMU, the move, and then what the guest and the clients saw.
 */
export async function runScenario(options: ScenarioOptions): Promise<ScenarioReport> {
  const image = guestImage();
  if ('missing' in image) throw new Error(image.missing);
  removeLeftovers();
  const id = `${process.pid}-${randomBytes(3).toString('hex')}`;
  const ramBytes = options.ramBytes ?? 256 * 1024 * 1024 - 8192;
  const accel = options.accel ?? 'tcg';
  const noBridge = BridgeNamespace.unavailable();
  const ns = noBridge ? undefined : BridgeNamespace.create(`ferry-qemu-${id}`);
  const network = (tap: string, hostPort: number): VmNetwork =>
    ns ? { kind: 'bridge', namespace: ns.name, tap, ip: GUEST_IP, mac: GUEST_MAC } : { kind: 'user', hostPort, mac: GUEST_MAC };
  const basePort = 20_000 + (process.pid % 20_000);
  const spec = (role: 'src' | 'dst'): VmSpec => ({
    accel,
    machine: 'q35',
    ramBytes,
    ramPath: `/dev/shm/ferry-qemu-${id}-${role}.ram`,
    qmpPath: `/dev/shm/ferry-qemu-${id}-${role}.qmp`,
    kernel: image.kernel,
    initrd: image.initrd,
    hotMiB: options.hotMiB ?? 64,
    ratePagesPerSec: options.ratePagesPerSec ?? 5000,
    network: network(role === 'src' ? (ns?.sourceTap ?? '') : (ns?.destinationTap ?? ''), role === 'src' ? basePort : basePort + 1),
    incoming: role === 'dst',
  });
  const vms: QemuVm[] = [];
  let ping: PingClient | undefined;
  let tcp: TcpClient | undefined;
  try {
    const watch = options.observer;
    watch?.step?.(`booting the source VM (${accel}, ${(ramBytes / 2 ** 20).toFixed(0)} MiB)`);
    const source = await QemuVm.start(spec('src'));
    vms.push(source);
    source.serial.onLine((line, beat) => watch?.serial?.('source', line, beat));
    await source.waitForGuest();
    watch?.step?.('the source VM runs its workload');
    const written = randomBytes(8).toString('hex');
    const setAnswer = await kvRequest(source.spec.network, `SET before-migration ${written}`);
    if (setAnswer !== 'OK') throw new Error(`the guest's service answered "${setAnswer}" to SET`);
    if (ns) {
      ping = new PingClient(ns, GUEST_IP, watch?.ping?.bind(watch));
      tcp = new TcpClient(ns, GUEST_IP, 7000);
    }
    await sleep(options.warmupMs ?? 2000);
    watch?.step?.('starting the destination QEMU (-incoming defer)');
    const destination = await QemuVm.start(spec('dst'));
    vms.push(destination);
    destination.serial.onLine((line, beat) => watch?.serial?.('destination', line, beat));
    watch?.step?.(`migrating with ${options.mover.kind === 'ferry' ? 'Ferry' : "QEMU's own migration"}`);
    options.onDestinationStarted?.(source, destination);

    let migration: ScenarioReport['migration'];
    let error: string | undefined;
    const movedAt = performance.now();
    try {
      if (options.mover.kind === 'ferry') {
        const mover = options.mover.options;
        const moved = await migrateVmWithFerry(source, destination, {
          scratchDir: '/dev/shm',
          ...mover,
          onEvent: (e) => {
            mover?.onEvent?.(e);
            watch?.migrationEvent?.(e);
          },
          onStart: (h) => {
            mover?.onStart?.(h);
            watch?.migrationStarted?.(h);
          },
        });
        const r = moved.report;
        migration = {
          totalMs: r.totalMs,
          downtimeMs: r.downtimeMs,
          bytesSent: r.bytesSent,
          deviceStateBytes: moved.deviceStateBytes,
          rounds: r.rounds.length,
          downtimeParts: { ...r.downtime, destinationResumeMs: r.destination.resumeMs },
          pausedMs: moved.pausedMs,
        };
      } else {
        migration = await migrateVmWithQemu(source, destination, options.mover.options);
      }
    } catch (err) {
      error = err instanceof Error ? `${(err as { code?: string }).code ?? err.name}: ${err.message}` : String(err);
    }
    watch?.step?.(error === undefined ? 'moved; the clients go on against the destination' : `the move failed: ${error}`);
    await sleep(options.afterMs ?? 2000);
    const runningOn = destination.running && (await destination.status().catch(() => 'gone')) === 'running' ? 'destination' : 'source';
    const live = runningOn === 'destination' ? destination : source;
    const beatsAfter = live.serial.heartbeats.filter((b) => b.atMs > movedAt);
    const last = live.serial.last;
    const readBack = await kvRequest(live.spec.network, 'GET before-migration').catch((err: Error) => `no answer: ${err.message}`);
    const gaps = { ping: await ping?.stop(), tcp: await tcp?.stop() };
    ping = undefined;
    tcp = undefined;
    return {
      mover: options.mover.kind,
      accel,
      network: ns ? 'bridge' : 'user',
      ramBytes,
      ...(migration && { migration }),
      ...(error !== undefined && { error }),
      heartbeatGapMs: longestHeartbeatGapMs([...source.serial.heartbeats, ...destination.serial.heartbeats], movedAt - 1000),
      ...(runningOn === 'destination' &&
        source.serial.last &&
        destination.serial.heartbeats[0] && { switchoverGapMs: destination.serial.heartbeats[0].atMs - source.serial.last.atMs }),
      ...writeRate(source.serial.heartbeats.filter((b) => b.atMs >= movedAt && b.atMs <= movedAt + (migration?.totalMs ?? Infinity))),
      ...(gaps.ping && { ping: gaps.ping }),
      ...(gaps.tcp && { tcp: gaps.tcp }),
      checker: { checked: last?.checked ?? 0, bad: last?.bad ?? -1, heartbeatsAfter: beatsAfter.length },
      state: { written: `VALUE ${written}`, readBack },
      runningOn,
      sourceExited: !source.running,
    };
  } finally {
    await ping?.stop().catch(() => undefined);
    await tcp?.stop().catch(() => undefined);
    for (const vm of vms) await vm.dispose().catch(() => undefined);
    ns?.destroy();
  }
}

function writeRate(beats: readonly Heartbeat[]): { guestWritesPerSec?: number } {
  const first = beats[0];
  const last = beats.at(-1);
  if (!first || !last || last.atMs - first.atMs < 100) return {};
  return { guestWritesPerSec: ((last.writes - first.writes) / (last.atMs - first.atMs)) * 1000 };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
