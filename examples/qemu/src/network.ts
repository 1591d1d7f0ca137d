import { execFileSync } from 'node:child_process';
import { QemuError } from './errors.ts';

/** The guest's address on the bridge and the host side's; these addresses exist only inside the namespace. */
export const GUEST_IP = '10.15.0.2';
export const BRIDGE_IP = '10.15.0.1';
export const GUEST_MAC = '52:54:00:0f:00:02';

/**
 * A network namespace with one bridge and two taps (the source QEMU's and the destination's):
 * the guest keeps its IP and MAC across the move, and QEMU's self-announce (gratuitous RARP)
 * after the migration tells the bridge which port the MAC lives behind now. Needs root
 * (CAP_NET_ADMIN) and iproute2.
 */
export class BridgeNamespace {
  readonly name: string;
  readonly sourceTap = 'tap-src';
  readonly destinationTap = 'tap-dst';

  private constructor(name: string) {
    this.name = name;
  }

  static create(name: string): BridgeNamespace {
    const ns = new BridgeNamespace(name);
    try {
      ip('netns', 'add', name);
      ns.run('link', 'set', 'lo', 'up');
      ns.run('link', 'add', 'br0', 'type', 'bridge');
      ns.run('addr', 'add', `${BRIDGE_IP}/24`, 'dev', 'br0');
      for (const tap of [ns.sourceTap, ns.destinationTap]) {
        ns.run('tuntap', 'add', tap, 'mode', 'tap');
        ns.run('link', 'set', tap, 'master', 'br0');
        ns.run('link', 'set', tap, 'up');
      }
      ns.run('link', 'set', 'br0', 'up');
    } catch (err) {
      ns.destroy();
      throw new QemuError('NETNS_FAILED', `cannot set up network namespace ${name}: ${(err as Error).message}`, { cause: err });
    }
    return ns;
  }

  /** Whether this host lets us create namespaces and taps (root, iproute2); the reason if not. */
  static unavailable(): string | undefined {
    const probe = `ferry-probe-${process.pid}`;
    try {
      ip('netns', 'add', probe);
      ip('-n', probe, 'tuntap', 'add', 'tap0', 'mode', 'tap');
      return undefined;
    } catch (err) {
      return `network namespaces or taps are not available: ${(err as Error).message.split('\n')[0]}`;
    } finally {
      try {
        ip('netns', 'del', probe);
      } catch {}
    }
  }

  /** The command line that runs `argv` inside the namespace, killed if this process dies (`diesWithUs`). */
  exec(argv: readonly string[]): [string, string[]] {
    return ['ip', ['netns', 'exec', this.name, ...diesWithUs(argv)]];
  }

  destroy(): void {
    try {
      ip('netns', 'del', this.name);
    } catch {}
  }

  private run(...args: string[]): void {
    ip('-n', this.name, ...args);
  }
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/**
 * `argv` run under util-linux `setpriv --pdeathsig KILL`: the kernel kills it when this process
 * dies, however it dies, so no QEMU or client outlives a killed control plane or benchmark.
 */
export function diesWithUs(argv: readonly string[]): string[] {
  return ['setpriv', '--pdeathsig', 'KILL', '--', ...argv];
}
