import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { QemuError } from './errors.ts';
import { diesWithUs } from './network.ts';
import { QmpClient } from './qmp.ts';
import { SerialConsole } from './serial-console.ts';
import { qemuArgs, type VmSpec } from './vm-spec.ts';

/**
 * One running QEMU process: its QMP connection, its serial console (the guest's heartbeats and
 * checker), and its RAM file. The RAM file is created at the guest's size before QEMU starts, so
 * the destination's exists for Ferry to map before QEMU has run a single instruction.
 */
export class QemuVm {
  readonly spec: VmSpec;
  readonly qmp: QmpClient;
  readonly serial: SerialConsole;
  private readonly child: ChildProcess;
  /** Resolves with QEMU's exit code (or signal) once the process is gone. */
  readonly exited: Promise<string>;
  private gone = false;

  private constructor(spec: VmSpec, child: ChildProcess, qmp: QmpClient, serial: SerialConsole, exited: Promise<string>) {
    this.spec = spec;
    this.child = child;
    this.qmp = qmp;
    this.serial = serial;
    this.exited = exited;
    void exited.then(() => (this.gone = true));
  }

  /** Starts QEMU (inside the bridge's namespace when the network is a bridge) and connects QMP. */
  static async start(spec: VmSpec): Promise<QemuVm> {
    const qemu = spec.qemu ?? 'qemu-system-x86_64';
    writeFileSync(spec.ramPath, '');
    truncateSync(spec.ramPath, spec.ramBytes);
    rmSync(spec.qmpPath, { force: true });
    const args = qemuArgs(spec);
    const inner = diesWithUs([qemu, ...args]);
    const [cmd, argv] =
      spec.network.kind === 'bridge' ? ['ip', ['netns', 'exec', spec.network.namespace, ...inner]] : ['setpriv', inner.slice(1)];
    const child = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'] });
    const serial = new SerialConsole(child.stdout!);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-4000)));
    const exited = new Promise<string>((resolve) => {
      child.once('error', (err) => resolve(`could not start ${qemu}: ${err.message}`));
      child.once('exit', (code, signal) => resolve(signal ? `killed by ${signal}` : `exited with code ${code}`));
    });
    // QMP's socket appears once QEMU has parsed its command line.
    const deadline = Date.now() + 15_000;
    let qmp: QmpClient | undefined;
    while (!qmp) {
      const ended = await Promise.race([exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 50))]);
      if (ended !== undefined) throw new QemuError('QEMU_START_FAILED', `QEMU ${ended}: ${stderr.trim()}`);
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new QemuError('QEMU_START_FAILED', `QEMU made no QMP socket within 15 s: ${stderr.trim()}`);
      }
      if (existsSync(spec.qmpPath)) qmp = await QmpClient.connect(spec.qmpPath).catch(() => undefined);
    }
    return new QemuVm(spec, child, qmp, serial, exited);
  }

  get running(): boolean {
    return !this.gone;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The guest's run state (`running`, `paused`, `inmigrate`, `postmigrate`, ...). */
  async status(): Promise<string> {
    const s = await this.qmp.execute<{ status: string }>('query-status');
    return s.status;
  }

  /** Waits until the guest's workload is up (its service listening and its dirtier filled). */
  async waitForGuest(timeoutMs = 120_000): Promise<void> {
    await Promise.race([
      Promise.all([this.serial.waitFor('KV-READY', timeoutMs), this.serial.waitFor('DIRTY-READY', timeoutMs)]),
      this.exited.then((why) => {
        throw new QemuError('QEMU_EXITED', `QEMU ${why} before the guest came up; console:\n${this.serial.tail()}`);
      }),
    ]);
  }

  /** Asks QEMU to quit, then kills it if it has not within `graceMs`. */
  async quit(graceMs = 5_000): Promise<void> {
    if (this.gone) return;
    await this.qmp.execute('quit').catch(() => undefined);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    this.qmp.close();
  }

  /** Kills QEMU at once (the test's crash). */
  async kill(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
    this.qmp.close();
  }

  /** Quits (if still running) and deletes the RAM file and the QMP socket. */
  async dispose(): Promise<void> {
    await this.quit();
    rmSync(this.spec.ramPath, { force: true });
    rmSync(this.spec.qmpPath, { force: true });
  }
}
