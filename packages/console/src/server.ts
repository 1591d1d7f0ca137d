import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConsoleActionError, type ConsoleBackend } from './backend.ts';
import { EventLog } from './event-log.ts';
import { staticAsset } from './assets.ts';

export interface ConsoleServerOptions {
  /** What the console shows and does: hosts, guests and the actions behind its buttons. */
  readonly backend: ConsoleBackend;
  /** Address to listen on. Default `127.0.0.1`: the console drives migrations, so it is not for the network. */
  readonly host?: string;
  /** TCP port; default 0 (any free one). */
  readonly port?: number;
  /** Shown in the page's title bar. Default `Ferry console`. */
  readonly title?: string;
}

/** Largest request body an action takes, bytes. */
const MAX_BODY_BYTES = 64 * 1024;
/** A comment line this often keeps idle SSE connections (and proxies) from timing out, ms. */
const KEEPALIVE_MS = 15_000;

/**
 * The console's HTTP server: the page and its scripts (uPlot served from node_modules, so it works
 * offline), a server-sent-event stream of everything published (replayed from the start to a page
 * opened late), and `POST /api/<action>` for the buttons. Mountable by any launcher: give it a backend
 * and `publish()` what happens.
 */
export class ConsoleServer {
  private readonly server: http.Server;
  private readonly backend: ConsoleBackend;
  private readonly title: string;
  private readonly log = new EventLog();
  private readonly streams = new Set<http.ServerResponse>();
  private readonly keepalive: NodeJS.Timeout;

  private constructor(options: ConsoleServerOptions) {
    this.backend = options.backend;
    this.title = options.title ?? 'Ferry console';
    this.server = http.createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        if (!res.headersSent) json(res, 500, { error: { code: 'INTERNAL', message: (err as Error).message } });
        else res.end();
      });
    });
    this.keepalive = setInterval(() => {
      for (const s of this.streams) s.write(': keepalive\n\n');
    }, KEEPALIVE_MS);
    this.keepalive.unref();
  }

  static async listen(options: ConsoleServerOptions): Promise<ConsoleServer> {
    const console = new ConsoleServer(options);
    await new Promise<void>((resolve, reject) => {
      console.server.once('error', reject);
      console.server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
    return console;
  }

  /** Where a browser opens the console. */
  get url(): string {
    const a = this.server.address() as AddressInfo;
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}/`;
  }

  /** Sends `data` to every open page as an SSE message of type `topic`, and keeps it for pages opened later. */
  publish(topic: string, data: unknown): void {
    const frame = this.log.append(topic, data);
    for (const s of this.streams) s.write(frame);
  }

  /** Stops serving and ends every open stream. */
  async close(): Promise<void> {
    clearInterval(this.keepalive);
    for (const s of this.streams) s.end();
    this.streams.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://console');
    if (req.method === 'GET' && url.pathname === '/events') return this.stream(req, res);
    if (req.method === 'GET' && url.pathname === '/api/state') return json(res, 200, this.backend.snapshot());
    if (req.method === 'GET' && url.pathname === '/api/title') return json(res, 200, { title: this.title });
    if (req.method === 'POST' && url.pathname.startsWith('/api/')) return this.action(url.pathname.slice(5), req, res);
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204).end();
      return;
    }
    if (req.method !== 'GET') return json(res, 405, { error: { code: 'METHOD', message: `${req.method} not allowed` } });
    const asset = staticAsset(url.pathname);
    if (!asset) return json(res, 404, { error: { code: 'NOT_FOUND', message: url.pathname } });
    const body = await readFile(asset.path);
    res.writeHead(200, { 'content-type': asset.type, 'cache-control': 'no-cache' });
    res.end(body);
  }

  private stream(req: http.IncomingMessage, res: http.ServerResponse): void {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
    // Everything so far first, so a page opened mid-migration draws it from the start.
    const lastId = Number(req.headers['last-event-id'] ?? 0);
    res.write(this.log.replay(Number.isFinite(lastId) ? lastId : 0));
    this.streams.add(res);
    req.once('close', () => this.streams.delete(res));
  }

  private async action(name: string, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let args: Record<string, unknown>;
    try {
      args = await readJson(req);
    } catch (err) {
      return json(res, 400, { error: { code: 'BAD_REQUEST', message: (err as Error).message } });
    }
    try {
      json(res, 200, { result: (await this.backend.act(name, args)) ?? null });
    } catch (err) {
      const e = err as Error & { code?: string };
      const status = err instanceof ConsoleActionError ? err.status : 500;
      json(res, status, { error: { code: e.code ?? 'ERROR', message: e.message } });
    }
  }
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-cache' });
  res.end(JSON.stringify(body));
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > MAX_BODY_BYTES) throw new Error(`body over ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  if (size === 0) return {};
  const value: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('the body must be a JSON object');
  return value as Record<string, unknown>;
}
