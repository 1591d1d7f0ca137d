import { createConnection, type Socket } from 'node:net';
import { QemuError } from './errors.ts';

/** A QMP event (`{"event": ..., "data": ...}`), as QEMU sends them unasked. */
export interface QmpEvent {
  readonly event: string;
  readonly data?: Record<string, unknown>;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/**
 * A QEMU Machine Protocol client over a unix socket: one JSON object per line, commands answered
 * in order, events interleaved. Small enough to own (no npm QMP client is maintained); it never
 * buffers more than one line past `MAX_LINE_BYTES`.
 */
export class QmpClient {
  private readonly socket: Socket;
  private readonly pending: Pending[] = [];
  private readonly listeners = new Set<(e: QmpEvent) => void>();
  private buffered = '';
  private closedWith: Error | undefined;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.onData(chunk));
    socket.on('error', (err) => this.fail(new QemuError('QMP_CLOSED', `QMP connection failed: ${err.message}`, { cause: err })));
    socket.on('close', () => this.fail(new QemuError('QMP_CLOSED', 'QEMU closed the QMP connection')));
  }

  /** Connects, reads QEMU's greeting and leaves capabilities negotiation mode. */
  static async connect(path: string, timeoutMs = 10_000): Promise<QmpClient> {
    const socket = createConnection(path);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', (err) =>
        reject(new QemuError('QMP_CLOSED', `cannot connect to QMP at ${path}: ${err.message}`, { cause: err })),
      );
    });
    const client = new QmpClient(socket);
    // The greeting comes first and looks like an answer to the first command: take it as one.
    const greeting = new Promise<unknown>((resolve, reject) => client.pending.push({ resolve, reject }));
    await withTimeout(greeting, timeoutMs, 'the QMP greeting');
    await client.execute('qmp_capabilities', undefined, timeoutMs);
    return client;
  }

  /** Runs `command`; resolves with its `return`, rejects with `QMP_ERROR` carrying QEMU's description. */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, timeoutMs = 30_000): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const answer = new Promise<T>((resolve, reject) => this.pending.push({ resolve: resolve as (v: unknown) => void, reject }));
    this.socket.write(`${JSON.stringify(args ? { execute: command, arguments: args } : { execute: command })}\n`);
    return withTimeout(answer, timeoutMs, `QMP ${command}`);
  }

  /** Calls `listener` with each event until the returned function is called. */
  onEvent(listener: (e: QmpEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  close(): void {
    this.socket.destroy();
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    if (this.buffered.length > MAX_LINE_BYTES && !this.buffered.includes('\n')) {
      this.fail(new QemuError('QMP_PROTOCOL', `a QMP line longer than ${MAX_LINE_BYTES} bytes`));
      this.socket.destroy();
      return;
    }
    for (let nl = this.buffered.indexOf('\n'); nl >= 0; nl = this.buffered.indexOf('\n')) {
      const line = this.buffered.slice(0, nl).trim();
      this.buffered = this.buffered.slice(nl + 1);
      if (line) this.onMessage(line);
    }
  }

  private onMessage(line: string): void {
    let message: { event?: string; data?: Record<string, unknown>; return?: unknown; error?: { class: string; desc: string } };
    try {
      message = JSON.parse(line);
    } catch {
      this.fail(new QemuError('QMP_PROTOCOL', `QEMU sent a line that is not JSON: ${line.slice(0, 80)}`));
      return;
    }
    if (message.event) {
      for (const l of this.listeners) l({ event: message.event, ...(message.data && { data: message.data }) });
      return;
    }
    const waiter = this.pending.shift();
    if (!waiter) return;
    if (message.error) waiter.reject(new QemuError('QMP_ERROR', `${message.error.class}: ${message.error.desc}`));
    else waiter.resolve(message.return ?? message);
  }

  private fail(err: Error): void {
    this.closedWith ??= err;
    for (let w = this.pending.shift(); w; w = this.pending.shift()) w.reject(this.closedWith);
  }
}

/** QEMU's answers are small; `query-*` outputs stay well under this. */
const MAX_LINE_BYTES = 4 * 1024 * 1024;

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new QemuError('QMP_TIMEOUT', `no answer to ${what} within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
