import net from 'node:net';
import tls from 'node:tls';
import { ErrorCode, FerryError, MigrationError, ProtocolError } from '../errors.ts';
import type { Frame } from '../protocol/frame.ts';
import { FrameReader } from '../protocol/frame-reader.ts';
import { sealFrame } from '../protocol/frame-check.ts';
import { FRAME_HEADER_BYTES } from '../protocol/limits.ts';
import { deferred } from '../util/deferred.ts';
import { hostPort } from './address.ts';
import { FrameDeadline } from './frame-deadline.ts';
import type { TlsOptions } from './tls-options.ts';
import type { FrameTransport } from './transport.ts';
import { logger } from '../util/log.ts';

const log = logger('transport');

/**
 * Bytes queued in user space before `write` reports backpressure: a few page batches, so the
 * sender prepares the next batch while the kernel still has data to send.
 */
const HIGH_WATER_MARK_BYTES = 4 * 1024 * 1024;

/** System errors that mean no destination could be reached at the address (`FERRY_CONNECT_FAILED`). */
const UNREACHABLE: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Frames over one TCP connection. */
export class TcpTransport implements FrameTransport {
  private readonly socket: net.Socket;
  private readonly reader: FrameReader;
  private readonly deadline: FrameDeadline;
  private frameHandler: ((frame: Frame) => void) | undefined;
  private readonly closeHandlers: ((error: FerryError) => void)[] = [];
  private closeError: FerryError | undefined;
  /** Whether frames written get a checksum trailer (version 3 sessions, after HELLO_ACCEPT). */
  private sealing = false;
  private maxSendBodyBytes = Number.POSITIVE_INFINITY;
  private drainWaiters: { resolve(): void; reject(e: unknown): void }[] = [];
  /** Frames that arrived before a handler was set. */
  private readonly early: Frame[] = [];
  private lastWords: ((error: FerryError) => Uint8Array | undefined) | undefined;
  /**
   * For a connection we opened: the time from connect() to the TCP handshake's completion,
   * one network round trip with no application work in it. NaN for accepted connections.
   */
  connectRttMs: number = Number.NaN;

  constructor(socket: net.Socket, maxBodyBytes: number) {
    this.socket = socket;
    this.reader = new FrameReader(maxBodyBytes);
    this.deadline = new FrameDeadline(this.reader, this.remoteAddress, (err) => this.fail(err));
    socket.setNoDelay(true);
    socket.on('timeout', () => {
      this.fail(new MigrationError(ErrorCode.TIMEOUT, `no data from ${this.remoteAddress} for ${socket.timeout} ms`));
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.flushDrainWaiters());
    socket.on('error', (err) => {
      this.fail(new MigrationError(ErrorCode.CONNECTION_LOST, `connection error: ${err.message}`, { cause: err }));
    });
    socket.on('end', () => {
      try {
        this.reader.end();
        this.fail(new MigrationError(ErrorCode.CONNECTION_LOST, 'peer closed the connection'));
      } catch (err) {
        this.fail(err as FerryError);
      }
    });
    socket.on('close', () => {
      this.fail(new MigrationError(ErrorCode.CONNECTION_LOST, 'connection closed'));
    });
  }

  /** Connects to a Ferry destination. */
  static connect(options: {
    host: string;
    port: number;
    timeoutMs?: number;
    maxBodyBytes: number;
    signal?: AbortSignal;
    /** Mutual TLS: present `cert`, accept only a destination whose certificate chains to `ca`. */
    tls?: TlsOptions;
  }): Promise<TcpTransport> {
    const d = deferred<TcpTransport>();
    const t = options.tls;
    const socket: net.Socket = t
      ? tls.connect({
          host: options.host,
          port: options.port,
          key: t.key,
          cert: t.cert,
          ca: t.ca as string | Buffer | (string | Buffer)[],
          // The destination's certificate is checked against `servername`, else the host itself.
          ...(t.servername !== undefined && { servername: t.servername }),
          rejectUnauthorized: true,
        })
      : net.connect({ host: options.host, port: options.port });
    const started = performance.now();
    let tcpConnectedAt = Number.NaN;
    socket.once('connect', () => {
      tcpConnectedAt = performance.now();
    });
    const timer = setTimeout(() => {
      socket.destroy();
      d.reject(new MigrationError(ErrorCode.TIMEOUT, `connecting to ${options.host}:${options.port} timed out`));
    }, options.timeoutMs ?? 10_000);
    timer.unref();
    const onAbort = (): void => {
      socket.destroy();
      d.reject(new MigrationError(ErrorCode.ABORTED, 'aborted while connecting', { cause: options.signal?.reason }));
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once(t ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      const transport = new TcpTransport(socket, options.maxBodyBytes);
      transport.connectRttMs = tcpConnectedAt - started;
      log('connected to %s:%d%s in %s ms', options.host, options.port, t ? ' (TLS)' : '', (performance.now() - started).toFixed(1));
      d.resolve(transport);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', onAbort);
      // Nobody there (refused, no route, no such name) is FERRY_CONNECT_FAILED; a connection
      // that opened and then failed (a TLS handshake refused, a reset) is FERRY_CONNECTION_LOST.
      const unreachable = err.code !== undefined && UNREACHABLE.has(err.code);
      d.reject(
        new MigrationError(
          unreachable ? ErrorCode.CONNECT_FAILED : ErrorCode.CONNECTION_LOST,
          `cannot connect to ${hostPort(options.host, options.port)}: ${err.message}`,
          { cause: err },
        ),
      );
    });
    return d.promise;
  }

  onFrame(handler: (frame: Frame) => void): void {
    this.frameHandler = handler;
    while (this.early.length > 0 && this.frameHandler === handler && !this.closeError) {
      handler(this.early.shift()!);
    }
  }

  /**
   * A final frame to send when the transport fails on its own (a framing error, a timeout),
   * so the peer learns why before the connection closes: a typed refusal, not a silent reset.
   */
  setLastWords(lastWords: (error: FerryError) => Uint8Array | undefined): void {
    this.lastWords = lastWords;
  }

  onClose(handler: (error: FerryError) => void): void {
    if (this.closeError) handler(this.closeError);
    else this.closeHandlers.push(handler);
  }

  /**
   * The largest frame body the peer takes (its HELLO_ACCEPT): a write with a larger frame throws
   * FERRY_INVALID_STATE instead of sending it. Default unbounded.
   */
  setMaxSendBodyBytes(bytes: number): void {
    this.maxSendBodyBytes = bytes;
  }

  write(bytes: Uint8Array, onWritten?: () => void): boolean {
    if (this.closeError) throw this.closeError;
    if (this.maxSendBodyBytes < Number.POSITIVE_INFINITY) this.checkSendable(bytes);
    if (!this.sealing) {
      this.socket.write(bytes, onWritten);
      return this.socket.writableLength < HIGH_WATER_MARK_BYTES;
    }
    // Version 3: each frame goes out CHECKED with its trailer (the frames of one write in turn),
    // corked so that a frame and its trailer leave in one system call, not two segments.
    this.socket.cork();
    for (let at = 0; at < bytes.byteLength; ) {
      const end = at + FRAME_HEADER_BYTES + new DataView(bytes.buffer, bytes.byteOffset + at, 4).getUint32(0, true);
      const frame = bytes.subarray(at, end);
      const trailer = sealFrame(frame);
      this.socket.write(frame);
      at = end;
      this.socket.write(trailer, at >= bytes.byteLength ? onWritten : undefined);
    }
    this.socket.uncork();
    return this.socket.writableLength < HIGH_WATER_MARK_BYTES;
  }

  /**
   * Frame checksums (protocol version 3, docs/protocol.md §2.1), set once the version is known:
   * `required` seals every frame written from now on and refuses unchecked ones; `off` refuses
   * checked ones; `auto` (a source's initial state) takes either and seals nothing.
   */
  setFrameChecks(mode: 'off' | 'auto' | 'required'): void {
    this.reader.checks = mode;
    this.sealing = mode === 'required';
  }

  drain(): Promise<void> {
    if (this.closeError) return Promise.reject(this.closeError);
    if (this.socket.writableLength < HIGH_WATER_MARK_BYTES) return Promise.resolve();
    return new Promise((resolve, reject) => this.drainWaiters.push({ resolve, reject }));
  }

  async send(bytes: Uint8Array): Promise<void> {
    if (!this.write(bytes)) await this.drain();
  }

  /** Fails the transport with FERRY_TIMEOUT when nothing arrives for `ms` (0 disables). */
  setIdleTimeout(ms: number): void {
    this.socket.setTimeout(ms);
  }

  /**
   * The fixed part of the time a frame may take to arrive once its first byte has (default
   * `FRAME_DEADLINE_MS`); its size at `MIN_FRAME_RATE_BYTES_PER_SEC` is added. Past it the
   * transport fails with FERRY_TIMEOUT, however steadily bytes trickle in.
   */
  setFrameDeadline(ms: number): void {
    this.deadline.baseMs = ms;
  }

  /**
   * Lets frame bodies that span socket reads share two reused buffers: only for a handler that
   * consumes every frame before it returns (see `FrameReader.reuseBodies`).
   */
  reuseFrameBodies(): void {
    this.reader.reuseBodies = true;
  }

  setMaxBodyBytes(bytes: number): void {
    this.reader.maxBodyBytes = bytes;
  }

  end(): Promise<void> {
    if (this.closeError) return Promise.resolve();
    return new Promise((resolve) => this.socket.end(resolve));
  }

  destroy(error?: FerryError): void {
    this.fail(error ?? new MigrationError(ErrorCode.ABORTED, 'transport destroyed'));
  }

  get bytesWritten(): number {
    return this.socket.bytesWritten;
  }
  get queuedBytes(): number {
    return this.socket.writableLength;
  }
  get bytesRead(): number {
    return this.reader.bytesRead;
  }
  get closed(): boolean {
    return this.closeError !== undefined;
  }
  get remoteAddress(): string {
    return `${this.socket.remoteAddress ?? '?'}:${this.socket.remotePort ?? '?'}`;
  }

  private onData(chunk: Buffer): void {
    if (this.closeError) return;
    let frames: Frame[];
    try {
      frames = this.reader.push(chunk);
    } catch (err) {
      this.fail(err instanceof FerryError ? err : new ProtocolError(ErrorCode.FRAME_MALFORMED, String(err), { cause: err }));
      return;
    }
    this.deadline.track(frames.length > 0);
    for (const f of frames) {
      if (this.closeError) return;
      if (this.frameHandler) this.frameHandler(f);
      else this.early.push(f);
    }
  }

  private checkSendable(bytes: Uint8Array): void {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let at = 0; at + 4 <= bytes.byteLength; at += FRAME_HEADER_BYTES + view.getUint32(at, true)) {
      const body = view.getUint32(at, true);
      if (body > this.maxSendBodyBytes) {
        throw new MigrationError(
          ErrorCode.INVALID_STATE,
          `a frame body of ${body} bytes exceeds the ${this.maxSendBodyBytes} the peer announced; not sent (an engine bug, please report)`,
        );
      }
    }
  }

  private flushDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w.resolve();
  }

  private fail(error: FerryError): void {
    if (this.closeError) return;
    this.closeError = error;
    log('closed %s: %s (%d bytes written, %d read)', this.remoteAddress, error.message, this.socket.bytesWritten, this.socket.bytesRead);
    this.deadline.stop();
    const words = this.socket.writable && error.code !== ErrorCode.CONNECTION_LOST ? this.lastWords?.(error) : undefined;
    if (words) {
      // Last words are a frame like any other: CHECKED with its trailer in a version 3 session.
      this.socket.end(this.sealing ? Buffer.concat([words, sealFrame(words)]) : words);
      setTimeout(() => this.socket.destroy(), 1000).unref();
    } else {
      this.socket.destroy();
    }
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w.reject(error);
    for (const h of this.closeHandlers.splice(0)) h(error);
  }
}
