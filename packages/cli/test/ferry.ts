import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { onTestFinished } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/ferry.mjs', import.meta.url));

/** A `ferry` process as a user starts it: its JSON lines as they come, its exit code, its stderr. */
export interface Ferry {
  readonly child: ChildProcess;
  /** The next stdout line that parses as JSON with this `event` (or any, without). */
  next(event?: string): Promise<Record<string, unknown>>;
  /** Every stdout line so far. */
  readonly stdout: string[];
  stderr(): string;
  readonly exit: Promise<number>;
}

/** Spawns `node bin/ferry.mjs ...args`; killed when the test finishes if still running. */
export function ferry(args: readonly string[], env: NodeJS.ProcessEnv = {}): Ferry {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout: string[] = [];
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
  });
  const waiting: { event: string | undefined; resolve(v: Record<string, unknown>): void }[] = [];
  const seen: Record<string, unknown>[] = [];
  createInterface({ input: child.stdout! }).on('line', (line) => {
    stdout.push(line);
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const i = waiting.findIndex((w) => w.event === undefined || w.event === value.event);
    if (i >= 0) waiting.splice(i, 1)[0]!.resolve(value);
    else seen.push(value);
  });
  const exit = new Promise<number>((resolve) => child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : -1))));
  onTestFinished(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return {
    child,
    stdout,
    stderr: () => stderr,
    exit,
    next(event) {
      const i = seen.findIndex((v) => event === undefined || v.event === event);
      if (i >= 0) return Promise.resolve(seen.splice(i, 1)[0]!);
      return new Promise((resolve, reject) => {
        waiting.push({ event, resolve });
        void exit.then((code) => reject(new Error(`ferry ${args[0]} exited ${code} before a '${event}' line\nstderr: ${stderr}`)));
      });
    },
  };
}

/** Runs `ferry ...args` to the end. */
export async function ferryRun(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const f = ferry(args, env);
  const code = await f.exit;
  // Let the last lines through readline.
  await new Promise((r) => setImmediate(r));
  return { code, stdout: f.stdout.join('\n'), stderr: f.stderr() };
}
