/** How the guest is attached to a network. */
export type VmNetwork =
  /** A tap on the example's bridge inside network namespace `namespace`; the guest keeps `ip` and `mac`. */
  | { readonly kind: 'bridge'; readonly namespace: string; readonly tap: string; readonly ip: string; readonly mac: string }
  /** QEMU's user networking: the guest's port 7000 is forwarded from 127.0.0.1:`hostPort`. */
  | { readonly kind: 'user'; readonly hostPort: number; readonly mac: string };

/** One QEMU process of the example: what it runs and where its files are. */
export interface VmSpec {
  /** The QEMU binary. Default qemu-system-x86_64. */
  readonly qemu?: string;
  /** `tcg` works everywhere; `kvm` needs real VT-x/AMD-V (not a nested PVM, see README.md). */
  readonly accel: 'tcg' | 'kvm';
  /** A QEMU machine type; `q35` resolves to the versioned type, which the compatibility check compares. */
  readonly machine: string;
  /**
   * Guest RAM, a whole number of 4 KiB pages. Under TCG keep it off multiples of 256 KiB: QEMU
   * 7.2 loses dirty pages otherwise (README.md), e.g. 256 MiB - 8 KiB.
   */
  readonly ramBytes: number;
  /** The RAM's shared file (memory-backend-file share=on), under /dev/shm. */
  readonly ramPath: string;
  /** The QMP unix socket. */
  readonly qmpPath: string;
  readonly kernel: string;
  readonly initrd: string;
  /** The guest dirtier's hot set and rate. */
  readonly hotMiB: number;
  readonly ratePagesPerSec: number;
  readonly network: VmNetwork;
  /** Start paused, waiting for `migrate-incoming` (the destination). */
  readonly incoming: boolean;
}

/** The QEMU command line for `spec` (without the binary). */
export function qemuArgs(spec: VmSpec): string[] {
  const net = spec.network;
  const ip = net.kind === 'bridge' ? ` ferry.ip=${net.ip}` : ' ferry.ip=10.0.2.15';
  return [
    ...(spec.accel === 'kvm' ? ['-accel', 'kvm', '-cpu', 'host'] : ['-accel', 'tcg', '-cpu', 'max']),
    '-machine',
    `${spec.machine},memory-backend=mem`,
    '-m',
    `${spec.ramBytes / 1024}K`,
    '-object',
    `memory-backend-file,id=mem,size=${spec.ramBytes},mem-path=${spec.ramPath},share=on`,
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-serial',
    'stdio',
    '-no-reboot',
    '-kernel',
    spec.kernel,
    '-initrd',
    spec.initrd,
    '-append',
    `console=ttyS0 quiet panic=-1${ip} ferry.hot_mib=${spec.hotMiB} ferry.rate=${spec.ratePagesPerSec}`,
    '-qmp',
    `unix:${spec.qmpPath},server=on,wait=off`,
    '-netdev',
    net.kind === 'bridge'
      ? `tap,id=n0,ifname=${net.tap},script=no,downscript=no`
      : `user,id=n0,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:${net.hostPort}-:7000`,
    '-device',
    `virtio-net-pci,netdev=n0,mac=${net.mac}`,
    ...(spec.incoming ? ['-incoming', 'defer'] : []),
  ];
}
