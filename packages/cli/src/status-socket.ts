import { existsSync, lstatSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createConnection, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MigrationStatus } from '@ferry/engine';

/** What `ferry status` gets from a running `ferry migrate`: its status and who it is. */
export interface StatusAnswer {
  readonly pid: number;
  readonly to: string;
  readonly guest: string;
  readonly status: MigrationStatus;
}

/** Where running migrations put their status sockets: one per `ferry migrate`, only this user's. */
export function statusDir(): string {
  return join(process.env.XDG_RUNTIME_DIR ?? tmpdir(), `ferry-${process.getuid?.() ?? 'user'}`);
}

/**
 * Serves `answer()` as one JSON line to each client that connects (a Unix socket only this
 * user may open). Returns the path and a close that removes it.
 */
export async function serveStatus(path: string | undefined, answer: () => StatusAnswer): Promise<{ path: string; close(): void }> {
  const where = path ?? join(statusDir(), `migrate-${process.pid}.sock`);
  if (!path) mkdirSync(statusDir(), { recursive: true, mode: 0o700 });
  // A socket left by an earlier run goes; anything else at that path is not ours to delete.
  if (existsSync(where)) {
    if (!lstatSync(where).isSocket()) throw new Error(`${where} exists and is not a socket`);
    rmSync(where, { force: true });
  }
  const server: Server = createServer((socket) => {
    socket.on('error', () => {});
    socket.end(`${JSON.stringify(answer())}\n`);
  });
  const old = process.umask(0o177);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(where, resolve);
    });
  } finally {
    process.umask(old);
  }
  server.unref();
  return {
    path: where,
    close: () => {
      server.close();
      rmSync(where, { force: true });
    },
  };
}

/** Asks one status socket. */
export function askStatus(path: string, timeoutMs = 5000): Promise<StatusAnswer> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(path);
    let text = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer from ${path} within ${timeoutMs} ms`)));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      text += chunk;
    });
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        resolve(JSON.parse(text) as StatusAnswer);
      } catch {
        reject(new Error(`${path} did not answer with a status`));
      }
    });
  });
}

/** The status sockets of this user's running migrations. */
export function statusSockets(): string[] {
  try {
    return readdirSync(statusDir())
      .filter((f) => /^migrate-\d+\.sock$/.test(f))
      .map((f) => join(statusDir(), f));
  } catch {
    return [];
  }
}
