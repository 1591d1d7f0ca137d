/**
 * A trial host in its own process (forked with tsx): its IPC messages, how it ended, and
 * kill -9. Its output is kept (the last few KiB) for the record instead of mixing with the
 * campaign's progress.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { messageInbox } from '../hosts/message-inbox.ts';
import type { SideEnd } from './observation.ts';

export interface HostProcess {
  readonly child: ChildProcess;
  /** The port it listens on (0 for a source). */
  readonly port: number;
  /** How its migration ended: its `result` message, or its death (`killed` when by `kill()`). */
  readonly result: Promise<SideEnd>;
  readonly exited: Promise<void>;
  send(message: unknown): void;
  /** The next message of `type` (kept if it came before the call); rejects if the process exits first. */
  next(type: string): Promise<Record<string, unknown>>;
  /** kill -9. */
  kill(): void;
  /** Output so far (stdout and stderr, the last 4 KiB). */
  output(): string;
}

export async function startHost(script: URL, env: Record<string, string>, execArgv: readonly string[] = []): Promise<HostProcess> {
  const child = fork(script, {
    execArgv: [...execArgv, '--import', 'tsx'],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  let out = '';
  const keep = (chunk: Buffer): void => {
    out = (out + chunk.toString()).slice(-4096);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let killedByUs = false;
  const exited = new Promise<{ how: string }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ how: String(signal ?? code) }));
    // A process that could not start emits 'error' and never 'exit'.
    child.once('error', (err) => resolve({ how: err.message }));
  });
  const result = new Promise<SideEnd>((resolve) => {
    child.on('message', (m: { type?: string; end?: SideEnd }) => {
      if (m.type === 'result' && m.end) resolve(m.end);
    });
    void exited.then(({ how }) =>
      resolve(killedByUs ? { end: 'killed' } : { end: 'crashed', message: `exited (${how}) before its result: ${out.slice(-400)}` }),
    );
  });
  let how = '';
  void exited.then((e) => {
    how = e.how;
  });
  const next = messageInbox(
    child,
    exited,
    (type) => new Error(`${script.pathname} exited (${how}) waiting for '${type}': ${out.slice(-1000)}`),
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.on('message', (m: { type?: string; port?: number }) => {
      if (m.type === 'listening') resolve(m.port ?? 0);
    });
    void exited.then(({ how }) => reject(new Error(`${script.pathname} exited (${how}) at start: ${out.slice(-1000)}`)));
  });
  return {
    child,
    port,
    result,
    exited: exited.then(() => undefined),
    next,
    send: (message) => {
      if (child.connected) child.send(message as never);
    },
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) {
        killedByUs = true;
        child.kill('SIGKILL');
      }
    },
    output: () => out,
  };
}
