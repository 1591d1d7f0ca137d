/** A hostile peer's end of a TCP connection: raw bytes out, whole frames in, and when the other side closed it. */
import net from 'node:net';
import { FrameSplitter } from './frame-splitter.ts';
import { within } from './settle.ts';

export class RawPeer {
  readonly frames: Buffer[] = [];
  /** Milliseconds from connecting to the close, once closed. */
  closedAfterMs: number | undefined;
  readonly closed: Promise<void>;
  private readonly splitter = new FrameSplitter();
  private readonly waiters: (() => void)[] = [];
  private readonly opened = performance.now();

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      if (this.splitter.unframed) return;
      this.frames.push(...this.splitter.push(chunk));
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on('error', () => {});
    this.closed = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedAfterMs = performance.now() - this.opened;
        for (const w of this.waiters.splice(0)) w();
        resolve();
      }),
    );
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, host);
      socket.once('connect', () => resolve(new RawPeer(socket)));
      socket.once('error', reject);
    });
  }

  /** A peer for a socket some server accepted. */
  static accepted(socket: net.Socket): RawPeer {
    return new RawPeer(socket);
  }

  get isClosed(): boolean {
    return this.closedAfterMs !== undefined;
  }

  /** Writes, ignoring a connection already gone. */
  send(...bytes: Uint8Array[]): void {
    if (this.socket.destroyed || !this.socket.writable) return;
    for (const b of bytes) this.socket.write(b);
  }

  /** Sends `bytes` `step` at a time every `everyMs`, until done or closed. */
  async trickle(bytes: Uint8Array, step: number, everyMs: number): Promise<void> {
    for (let at = 0; at < bytes.byteLength && !this.isClosed; at += step) {
      this.send(bytes.subarray(at, at + step));
      await within(this.closed, everyMs);
    }
  }

  /** The `index`-th frame received (from 0), waiting up to `timeoutMs`; undefined if none came or the connection closed. */
  async frame(index: number, timeoutMs: number): Promise<Buffer | undefined> {
    const until = performance.now() + timeoutMs;
    while (this.frames.length <= index && !this.isClosed && performance.now() < until) {
      await within(new Promise<void>((r) => this.waiters.push(r)), until - performance.now());
    }
    return this.frames[index];
  }

  /** True if the other side closed within `ms`. */
  async closesWithin(ms: number): Promise<boolean> {
    await within(this.closed, ms);
    return this.isClosed;
  }

  destroy(): void {
    this.socket.destroy();
  }
}
