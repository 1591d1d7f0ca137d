/**
 * A real, kernel-shaped link for benchmarks: a network namespace for the destination, joined
 * to this one by a veth pair, each end shaped with tc (netem for delay and loss where the
 * kernel has it, tbf for the rate otherwise). Needs root and iproute2; `shapedLinkSupport()`
 * says why not where it cannot run, and `teardown()` removes everything (deleting the
 * namespace deletes the veth pair with it).
 */
import { execFileSync } from 'node:child_process';

export interface ShapedLink {
  /** The namespace to run the destination in (`spawnHost(..., netns)`). */
  readonly netns: string;
  /**
   * The destination's address inside it: private to the bench's own namespace, so migrations
   * over it pass `insecure: true` (no psk or tls, and not loopback).
   */
  readonly peerAddress: string;
  /** What was applied: `netem` or `tbf`. */
  readonly qdisc: string;
  teardown(): void;
}

const NS = 'ferry-bench-dst';
const HOST_DEV = 'ferry-veth0';
const PEER_DEV = 'ferry-veth1';
const HOST_ADDR = '10.77.0.1';
const PEER_ADDR = '10.77.0.2';

function run(args: string[], netns?: string): void {
  const full = netns ? ['netns', 'exec', netns, ...args] : args;
  const [cmd, ...rest] = netns ? ['ip', ...full] : full;
  execFileSync(cmd!, rest, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Whether a shaped link can be made here, and if not, why. */
export function shapedLinkSupport(): { available: boolean; reason?: string } {
  if (process.getuid?.() !== 0) return { available: false, reason: 'needs root (network namespaces and tc)' };
  try {
    execFileSync('ip', ['-V'], { stdio: 'ignore' });
    execFileSync('tc', ['-V'], { stdio: 'ignore' });
  } catch {
    return { available: false, reason: 'needs iproute2 (ip and tc)' };
  }
  return { available: true };
}

/** Whether this kernel has the netem qdisc (delay and loss); tbf (rate) is in every kernel we met. */
function hasNetem(): boolean {
  try {
    run(['tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'netem', 'delay', '0ms']);
    run(['tc', 'qdisc', 'del', 'dev', 'lo', 'root']);
    return true;
  } catch {
    return false;
  }
}

export function createShapedLink(o: { rateBitsPerSec: number; delayMs?: number; lossPercent?: number }): ShapedLink {
  const support = shapedLinkSupport();
  if (!support.available) throw new Error(`shaped link unavailable: ${support.reason}`);
  const wantsNetem = (o.delayMs ?? 0) > 0 || (o.lossPercent ?? 0) > 0;
  const netem = hasNetem();
  if (wantsNetem && !netem) throw new Error('delay and loss need the netem qdisc, which this kernel lacks (sch_netem)');
  teardownStale();
  run(['ip', 'netns', 'add', NS]);
  try {
    run(['ip', 'link', 'add', HOST_DEV, 'type', 'veth', 'peer', 'name', PEER_DEV]);
    run(['ip', 'link', 'set', PEER_DEV, 'netns', NS]);
    run(['ip', 'addr', 'add', `${HOST_ADDR}/24`, 'dev', HOST_DEV]);
    run(['ip', 'link', 'set', HOST_DEV, 'up']);
    run(['ip', 'addr', 'add', `${PEER_ADDR}/24`, 'dev', PEER_DEV], NS);
    run(['ip', 'link', 'set', PEER_DEV, 'up'], NS);
    run(['ip', 'link', 'set', 'lo', 'up'], NS);
    const rate = `${Math.round(o.rateBitsPerSec)}bit`;
    // Shape both directions: pages one way, acknowledgements the other.
    for (const [dev, ns] of [
      [HOST_DEV, undefined],
      [PEER_DEV, NS],
    ] as const) {
      const qdisc = netem
        ? [
            'netem',
            'rate',
            rate,
            ...(o.delayMs ? ['delay', `${o.delayMs}ms`] : []),
            ...(o.lossPercent ? ['loss', `${o.lossPercent}%`] : []),
          ]
        : ['tbf', 'rate', rate, 'burst', '256kb', 'latency', '50ms'];
      run(['tc', 'qdisc', 'add', 'dev', dev, 'root', ...qdisc], ns);
    }
  } catch (err) {
    teardownStale();
    throw err;
  }
  return { netns: NS, peerAddress: PEER_ADDR, qdisc: netem ? 'netem' : 'tbf', teardown: teardownStale };
}

function teardownStale(): void {
  try {
    run(['ip', 'netns', 'del', NS]);
  } catch {
    // Not there.
  }
  try {
    run(['ip', 'link', 'del', HOST_DEV]);
  } catch {
    // Went with the namespace.
  }
}
