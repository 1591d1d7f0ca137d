import type { ChildProcess } from 'node:child_process';

/**
 * A child's IPC messages, taken by type in any order: `next(type)` resolves with the first
 * message of that type that came (or comes), and rejects with `gone(type)` if the child exits
 * first. Bench hosts and the fault campaign's trial hosts both read their children so.
 */
export function messageInbox(
  child: ChildProcess,
  exited: Promise<unknown>,
  gone: (type: string) => Error,
): (type: string) => Promise<Record<string, unknown>> {
  const inbox: Record<string, unknown>[] = [];
  const waiters: { type: string; resolve(m: Record<string, unknown>): void }[] = [];
  child.on('message', (m: Record<string, unknown>) => {
    const w = waiters.findIndex((x) => x.type === m.type);
    if (w >= 0) waiters.splice(w, 1)[0]!.resolve(m);
    else inbox.push(m);
  });
  return (type) => {
    const i = inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(inbox.splice(i, 1)[0]!);
    return new Promise((resolve, reject) => {
      waiters.push({ type, resolve });
      void exited.then(() => reject(gone(type)));
    });
  };
}
