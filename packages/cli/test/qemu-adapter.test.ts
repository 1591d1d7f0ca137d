import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { qemuUnavailable } from '@ferry/example-qemu/availability';
import { QemuVm } from '@ferry/example-qemu/qemu-vm';
import { QmpClient } from '@ferry/example-qemu/qmp';
import { guestImage } from '@ferry/example-qemu/scenario';
import type { VmSpec } from '@ferry/example-qemu/vm-spec';
import { describe, expect, it } from 'vitest';
import { ferry, ferryRun } from './ferry.ts';

const reason = qemuUnavailable();
if (reason) console.warn(`ferry --guest qemu tests skipped: ${reason}`);

function spec(role: 'src' | 'dst', machine = 'q35'): VmSpec {
  const image = guestImage();
  if ('missing' in image) throw new Error(image.missing);
  const base = `/dev/shm/ferry-cli-qemu-${process.pid}`;
  return {
    accel: 'tcg',
    machine,
    // Off a multiple of 256 KiB: QEMU 7.2 under TCG loses dirty pages otherwise (examples/qemu/README.md).
    ramBytes: 128 * 2 ** 20 - 8192,
    ramPath: `${base}-${role}.ram`,
    qmpPath: `${base}-${role}.qmp`,
    kernel: image.kernel,
    initrd: image.initrd,
    hotMiB: 16,
    ratePagesPerSec: 1000,
    network: { kind: 'user', hostPort: (role === 'src' ? 26_000 : 27_000) + (process.pid % 1000), mac: '52:54:00:0f:00:03' },
    incoming: role === 'dst',
  };
}

// Boots two real QEMU VMs under TCG, 128 MiB - 8 KiB of RAM each, and moves the running one with two `ferry` processes.
describe.skipIf(reason !== undefined)('ferry --guest qemu', () => {
  it('moves a running QEMU VM: listen and migrate exit 0, the destination VM runs on with no bad page, the source QEMU is gone', async () => {
    const source = await QemuVm.start(spec('src'));
    const destination = await QemuVm.start(spec('dst')).catch(async (err: unknown) => {
      await source.dispose();
      throw err;
    });
    let monitor: QmpClient | undefined;
    try {
      await source.waitForGuest();
      // A QEMU monitor socket serves one client at a time: `ferry` takes both over from here.
      source.qmp.close();
      destination.qmp.close();
      const env = { FERRY_PSK_HEX: randomBytes(32).toString('hex') };
      const d = destination.spec;
      const listen = ferry(['listen', '--guest', 'qemu', '--qmp', d.qmpPath, '--ram', d.ramPath, '--json'], env);
      const { port } = await listen.next('listening');
      const s = source.spec;
      const migrate = await ferryRun(
        ['migrate', '--to', `127.0.0.1:${port}`, '--guest', 'qemu', '--qmp', s.qmpPath, '--ram', s.ramPath, '--json'],
        env,
      );
      expect(migrate.code, migrate.stderr).toBe(0);
      const lines = migrate.stdout.split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(lines[0]).toMatchObject({ event: 'guest', adapter: 'qemu', ram: s.ramPath, ramBytes: s.ramBytes });
      const done = lines.at(-1) as { event: string; report: { deviceStateBytes?: number; bytesSent: number; guestResumed?: boolean } };
      expect(done.event).toBe('completed');
      expect(done.report.bytesSent).toBeGreaterThan(0);

      const received = await listen.next();
      expect(received).toMatchObject({ event: 'completed', ram: d.ramPath, ramBytes: d.ramBytes, running: true });
      // QEMU's stream with x-ignore-shared: device state and ROMs, not the RAM Ferry moved.
      expect(received.deviceStateBytes).toBeGreaterThan(0);
      expect(received.deviceStateBytes).toBeLessThan(4 * 2 ** 20);
      expect(received.bytesReceived).toBeGreaterThan(received.deviceStateBytes as number);
      expect(await listen.exit).toBe(0);

      // The source QEMU was told to quit once the destination ran the VM.
      expect(await Promise.race([source.exited, new Promise((r) => setTimeout(() => r('still running'), 10_000))])).toMatch(/exited/);
      monitor = await QmpClient.connect(d.qmpPath);
      expect(await monitor.execute<{ status: string }>('query-status')).toMatchObject({ status: 'running' });
      // The guest runs on there: its checker keeps beating on the destination's console, finding every page it wrote.
      const beatsAt = destination.serial.heartbeats.length;
      await new Promise((r) => setTimeout(r, 1500));
      expect(destination.serial.heartbeats.length).toBeGreaterThan(beatsAt);
      expect(destination.serial.last?.bad).toBe(0);
    } finally {
      await monitor?.execute('quit').catch(() => undefined);
      monitor?.close();
      await source.dispose();
      await destination.dispose();
    }
  });

  it('refuses a QEMU that is not waiting for an incoming migration, and bad paths, with exit code 2', async () => {
    const source = await QemuVm.start(spec('src'));
    try {
      source.qmp.close();
      const notIncoming = await ferryRun([
        'listen',
        '--guest',
        'qemu',
        '--qmp',
        source.spec.qmpPath,
        '--ram',
        source.spec.ramPath,
        '--json',
      ]);
      expect(notIncoming.code).toBe(2);
      expect(notIncoming.stderr).toMatch(/a destination must be inmigrate \(started with -incoming defer\)/);
      const wrongRam = await ferryRun([
        'migrate',
        '--to',
        '127.0.0.1:1',
        '--guest',
        'qemu',
        '--qmp',
        source.spec.qmpPath,
        '--ram',
        '/dev/null',
      ]);
      expect(wrongRam.code).toBe(2);
      expect(wrongRam.stderr).toMatch(/--ram \/dev\/null has 0 B, the VM 134209536 B of RAM/);
      const noQmp = await ferryRun([
        'migrate',
        '--to',
        '127.0.0.1:1',
        '--guest',
        'qemu',
        '--qmp',
        '/nonexistent.qmp',
        '--ram',
        source.spec.ramPath,
      ]);
      expect(noQmp.code).toBe(2);
      expect(noQmp.stderr).toMatch(/--qmp \/nonexistent.qmp: cannot connect to QMP/);
      const missing = await ferryRun(['migrate', '--to', '127.0.0.1:1', '--guest', 'qemu', '--ram', source.spec.ramPath]);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('--guest qemu needs --qmp SOCKET');
    } finally {
      const monitor = await QmpClient.connect(source.spec.qmpPath).catch(() => undefined);
      await monitor?.execute('quit').catch(() => undefined);
      monitor?.close();
      await source.dispose();
    }
  });

  it('a destination QEMU of another machine type refuses the VM before any page moves: migrate exits 3, the source runs on', async () => {
    const source = await QemuVm.start(spec('src'));
    const destination = await QemuVm.start(spec('dst', 'pc')).catch(async (err: unknown) => {
      await source.dispose();
      throw err;
    });
    let monitor: QmpClient | undefined;
    try {
      source.qmp.close();
      destination.qmp.close();
      const d = destination.spec;
      const listen = ferry(['listen', '--guest', 'qemu', '--qmp', d.qmpPath, '--ram', d.ramPath, '--json']);
      const { port } = await listen.next('listening');
      const s = source.spec;
      const refused = await ferryRun([
        'migrate',
        '--to',
        `127.0.0.1:${port}`,
        '--guest',
        'qemu',
        '--qmp',
        s.qmpPath,
        '--ram',
        s.ramPath,
        '--json',
      ]);
      expect(refused.code, refused.stderr).toBe(3);
      const failed = JSON.parse(refused.stdout.split('\n').at(-1)!) as { event: string; message: string };
      expect(failed.event).toBe('failed');
      expect(failed.message).toMatch(
        /this host runs qemu .* pc-i440fx-[\d.]+-machine; the guest comes from 'qemu .* pc-q35-[\d.]+-machine'/,
      );
      listen.child.kill('SIGTERM');
      await listen.exit;
      // Nothing moved: the destination's RAM file is still all zero; the source was never stopped.
      expect(readFileSync(d.ramPath).equals(Buffer.alloc(d.ramBytes))).toBe(true);
      monitor = await QmpClient.connect(s.qmpPath);
      expect(await monitor.execute<{ status: string }>('query-status')).toMatchObject({ status: 'running' });
      expect(source.running).toBe(true);
    } finally {
      await monitor?.execute('quit').catch(() => undefined);
      monitor?.close();
      const other = await QmpClient.connect(destination.spec.qmpPath).catch(() => undefined);
      await other?.execute('quit').catch(() => undefined);
      other?.close();
      await source.dispose();
      await destination.dispose();
    }
  });
});
