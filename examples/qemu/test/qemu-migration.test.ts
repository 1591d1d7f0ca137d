import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { guestImage, runScenario } from '../src/scenario.ts';

/** Why this host cannot boot the example's VM (QEMU or the guest image missing), or undefined. */
function unavailable(): string | undefined {
  try {
    execFileSync('qemu-system-x86_64', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'qemu-system-x86_64 is not installed (examples/qemu/scripts/install.sh installs it)';
  }
  const image = guestImage();
  return 'missing' in image ? image.missing : undefined;
}

const reason = unavailable();
if (reason) console.warn(`examples/qemu tests skipped: ${reason}`);

// Each test boots real QEMU VMs under TCG (KVM is not usable on this machine kind), 256 MiB - 8 KiB of RAM.
describe.skipIf(reason !== undefined)('examples/qemu', () => {
  it('moves a running VM with Ferry: the guest finds no bad page, the service keeps its state, the source quits only after the commit', async () => {
    const r = await runScenario({ mover: { kind: 'ferry', options: { maxDowntimeMs: 300 } }, warmupMs: 1500, afterMs: 1500 });
    expect(r.error).toBeUndefined();
    expect(r.runningOn).toBe('destination');
    expect(r.sourceExited).toBe(true);
    // The guest's own checker, running on after the move, found every page it had written.
    expect(r.checker.bad).toBe(0);
    expect(r.checker.heartbeatsAfter).toBeGreaterThan(10);
    expect(r.state.readBack).toBe(r.state.written);
    // QEMU's stream carried only device state (and ROM): the RAM went by Ferry.
    expect(r.migration?.deviceStateBytes).toBeGreaterThan(0);
    expect(r.migration?.deviceStateBytes).toBeLessThan(4 * 2 ** 20);
    expect(r.migration?.bytesSent).toBeGreaterThan(r.migration?.deviceStateBytes ?? 0);
    if (r.network === 'bridge') {
      // The same IP and MAC answer on the bridge after the move, to ping and to TCP.
      expect(r.ping?.answered).toBeGreaterThan(50);
      expect(r.tcp?.answered).toBeGreaterThan(50);
    }
  });

  it('keeps the source VM running when the destination QEMU dies mid-way', async () => {
    let kill: (() => Promise<void>) | undefined;
    const r = await runScenario({
      mover: { kind: 'ferry', options: { onPrecopyRound: () => void kill?.() } },
      onDestinationStarted: (_source, destination) => {
        kill = () => {
          kill = undefined;
          return destination.kill();
        };
      },
      warmupMs: 1000,
      afterMs: 1500,
    });
    expect(r.error).toMatch(/destination QEMU killed by SIGKILL|FERRY_/);
    expect(r.runningOn).toBe('source');
    expect(r.sourceExited).toBe(false);
    expect(r.checker.bad).toBe(0);
    expect(r.checker.heartbeatsAfter).toBeGreaterThan(10);
    expect(r.state.readBack).toBe(r.state.written);
  });
});
