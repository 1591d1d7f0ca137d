import { type ChildProcess, fork, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

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
  const inbox: Record<string, unknown>[] = [];
  const waiters: { type: string; resolve(m: Record<string, unknown>): void }[] = [];
  child.on('message', (m: Record<string, unknown>) => {
    const w = waiters.findIndex((x) => x.type === m.type);
    if (w >= 0) waiters.splice(w, 1)[0]!.resolve(m);
    else inbox.push(m);
  });
  const next = (type: string): Promise<Record<string, unknown>> => {
    const i = inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      waiters.push({ type, resolve });
      child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before '${type}'`)));
    });
  };
  const { port } = (await next('listening')) as { port: number };
  return { child, port, next };
}
