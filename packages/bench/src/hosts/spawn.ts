import { type ChildProcess, fork, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { messageInbox } from './message-inbox.ts';

/**
 * Forks a TypeScript host script and waits for its `listening` message. With `netns`, the host
 * runs inside that network namespace (`ip netns exec`), its IPC channel inherited through it.
 */
export async function spawnHost(
  script: string,
  env: Record<string, string> = {},
  netns?: string,
): Promise<{ child: ChildProcess; port: number; next(type: string): Promise<Record<string, unknown>> }> {
  const url = new URL(script, import.meta.url);
  const options = { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] as const, env: { ...process.env, ...env } };
  const child = netns
    ? spawn('ip', ['netns', 'exec', netns, process.execPath, '--import', 'tsx', fileURLToPath(url)], {
        ...options,
        stdio: [...options.stdio],
      })
    : fork(url, { ...options, stdio: [...options.stdio], execArgv: ['--import', 'tsx'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let exitCode: number | null = null;
  void exited.then((code) => {
    exitCode = code;
  });
  const next = messageInbox(child, exited, (type) => new Error(`${script} exited with ${exitCode} before '${type}'`));
  const { port } = (await next('listening')) as { port: number };
  return { child, port, next };
}
