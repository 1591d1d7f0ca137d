import { readFileSync } from 'node:fs';
import { parseEvents, readEvents } from '@ferry/console';
import { describe, expect, it, onTestFinished } from 'vitest';
import { qemuUnavailable } from '../src/availability.ts';
import { QemuError } from '../src/errors.ts';
import { migrateVmWithFerry } from '../src/ferry-migration.ts';
import { QemuVm } from '../src/qemu-vm.ts';
import { QemuConsole } from '../src/qemu-console.ts';
import { guestImage, runScenario } from '../src/scenario.ts';
import type { VmSpec } from '../src/vm-spec.ts';

const reason = qemuUnavailable();
if (reason) console.warn(`examples/qemu tests skipped: ${reason}`);

// Each test boots real QEMU VMs under TCG (KVM is not usable on this machine kind), 256 MiB - 8 KiB of RAM.
describe.skipIf(reason !== undefined)('examples/qemu', () => {
  it('moves a running VM with Ferry: the guest finds no bad page, the service keeps its state, the source quits only after the commit', async () => {
    // The web console watches the run, as `start --console` does; what it published is checked below.
    const web = await QemuConsole.start({ ramBytes: 256 * 2 ** 20, ratePagesPerSec: 5000, maxDowntimeMs: 300 });
    onTestFinished(() => web.close());
    const r = await runScenario({
      mover: { kind: 'ferry', options: { maxDowntimeMs: 300 } },
      warmupMs: 1500,
      afterMs: 1500,
      observer: web.observer,
    });
    web.finish(r, 'the report', r.error === undefined);
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
    // The console got it all as it happened: both VMs' serial consoles, Ferry's migration from
    // its events and status(), the pings (on the bridge), the report.
    const events = parseEvents(await readEvents(web.url, /event: report\ndata: .*\n\n/));
    const of = (topic: string) => events.filter((e) => e.topic === topic).map((e) => e.data as Record<string, unknown>);
    const session = of('session').map((d) => String(d.line));
    expect(session.some((l) => l.startsWith('[source] heartbeat'))).toBe(true);
    expect(session.some((l) => l.startsWith('[destination] heartbeat'))).toBe(true);
    const phases = of('migration').flatMap((d) =>
      (d.event as { type: string; to?: string }).type === 'phase' ? [(d.event as { to: string }).to] : [],
    );
    expect(phases).toEqual(expect.arrayContaining(['precopy', 'paused', 'completed']));
    expect(of('status').length).toBeGreaterThan(0);
    if (r.network === 'bridge') expect(of('ping').reduce((n, b) => n + (b.t as number[]).length, 0)).toBeGreaterThan(50);
    expect(of('report')[0]).toMatchObject({ ok: true, outcome: 'completed', wrong: 0, lost: 0 });
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

  it('refuses a destination with another RAM size or machine type before any page moves, each with its reason', async () => {
    const image = guestImage();
    if ('missing' in image) throw new Error(image.missing);
    const base = `/dev/shm/ferry-qemu-refusal-${process.pid}`;
    const spec = (role: string, ramBytes: number, machine: string, port: number): VmSpec => ({
      accel: 'tcg',
      machine,
      ramBytes,
      ramPath: `${base}-${role}.ram`,
      qmpPath: `${base}-${role}.qmp`,
      kernel: image.kernel,
      initrd: image.initrd,
      hotMiB: 16,
      ratePagesPerSec: 1000,
      network: { kind: 'user', hostPort: port, mac: '52:54:00:0f:00:02' },
      incoming: role === 'dst',
    });
    const source = await QemuVm.start(spec('src', 128 * 2 ** 20 - 8192, 'q35', 24_000 + (process.pid % 1000)));
    const destination = await QemuVm.start(spec('dst', 160 * 2 ** 20 - 8192, 'pc', 25_000 + (process.pid % 1000)));
    try {
      await source.waitForGuest();
      const error = await migrateVmWithFerry(source, destination, { scratchDir: '/dev/shm' }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(error).toBeInstanceOf(QemuError);
      expect((error as QemuError).code).toBe('VM_INCOMPATIBLE');
      expect((error as QemuError).message).toMatch(/machine-type: source machine pc-q35-[\d.]+-machine, destination pc-i440fx-/);
      expect((error as QemuError).message).toMatch(/ram-size: source RAM 134209536 B, destination 167763968 B/);
      // Nothing moved: the destination's RAM file is still all zero, and the source runs on.
      expect(readFileSync(destination.spec.ramPath).equals(Buffer.alloc(destination.spec.ramBytes))).toBe(true);
      expect(await source.status()).toBe('running');
      const beats = source.serial.heartbeats.length;
      await new Promise((r) => setTimeout(r, 300));
      expect(source.serial.heartbeats.length).toBeGreaterThan(beats);
    } finally {
      await source.dispose();
      await destination.dispose();
    }
  });
});
