import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { IpcChannel, type Message } from '../ipc.ts';

/** Every host process started, so that any exit path can kill what is left. */
const running = new Set<ChildProcess>();

/** Last resort on the way out (also after an uncaught error): no host outlives the launcher. */
export function killAllHosts(): void {
  for (const child of running) child.kill('SIGKILL');
  running.clear();
}

/**
 * A host (source or destination) as a child process running a .ts module through tsx, with a
 * typed IPC channel. An exit nobody asked for is reported through `onCrash`.
 */
export class HostProcess<Out extends Message, In extends Message> {
  readonly name: string;
  readonly channel: IpcChannel<Out, In>;
  private readonly child: ChildProcess;
  private readonly exit: Promise<void>;
  private stopping = false;

  constructor(name: string, moduleUrl: URL, onCrash: (error: Error) => void) {
    this.name = name;
    this.child = fork(fileURLToPath(moduleUrl), [], {
      execArgv: ['--import', import.meta.resolve('tsx')],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      serialization: 'json',
    });
    running.add(this.child);
    this.channel = new IpcChannel<Out, In>(this.child);
    this.exit = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        running.delete(this.child);
        const error = new Error(`${name} host exited (${signal ?? `code ${code}`})`);
        this.channel.close(error);
        if (!this.stopping) onCrash(error);
        resolve();
      });
    });
    this.child.on('error', (err) => {
      if (!this.stopping) onCrash(new Error(`${name} host: ${err.message}`));
    });
  }

  send(message: Out): void {
    this.channel.send(message);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** Kills the host at once (SIGKILL), on purpose: no crash is reported. The console's fault injection. */
  kill(): void {
    if (!running.has(this.child)) return;
    this.stopping = true;
    this.child.kill('SIGKILL');
  }

  get alive(): boolean {
    return running.has(this.child);
  }

  /** Asks the host to shut down, then kills it if it has not exited within `timeoutMs`. */
  async stop(shutdown: Out, timeoutMs: number): Promise<void> {
    if (!running.has(this.child)) return;
    this.stopping = true;
    this.channel.send(shutdown);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(true), timeoutMs);
    });
    const late = await Promise.race([this.exit.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      this.child.kill('SIGKILL');
      await this.exit;
    }
  }
}
