import net from 'node:net';
import { FLAG_CHECKED, frame, frameCrc, HEADER_BYTES, TRAILER_BYTES, typeName } from './frames.ts';
import { Waker } from './waker.ts';

/** A frame as the peer sent it, with what the kit found about its framing. */
export interface Received {
  readonly kind: 'frame';
  readonly type: number;
  readonly flags: number;
  readonly reserved: number;
  readonly body: Buffer;
  /** Set when the connection expects CHECKED frames: whether the trailer was there and right. */
  readonly crc?: 'ok' | 'missing' | 'mismatch';
}
export type Event = Received | { readonly kind: 'closed'; readonly error?: string } | { readonly kind: 'timeout'; readonly ms: number };

/** What a frame header may declare before the kit gives up on the connection (it never buffers more). */
const MAX_DECLARED_BODY = 64 * 1024 * 1024;

/**
 * One TCP connection of a scripted peer. Frames are parsed eagerly as they arrive (so a
 * refusal is read before any reset can discard it) and queued; `next` takes them in order.
 * `checked` turns on CRC trailers both ways from the next frame on (version 3+ after HELLO_ACCEPT).
 */
export class Conn {
  readonly socket: net.Socket;
  /** Send CHECKED frames / expect them. */
  checked = false;
  /** Every frame received, in order (scenarios that judge the whole stream read this). */
  readonly log: Received[] = [];
  /** Largest declared body the peer sent, and the frames over `bodyLimit` (role destination). */
  bodyLimit = Number.POSITIVE_INFINITY;
  readonly oversized: string[] = [];
  private buf: Buffer = Buffer.alloc(0);
  private readonly queue: Event[] = [];
  private readonly arrival = new Waker();
  private ended = false;

  /** Every connection not yet closed: a runner ends those of a scenario that is over. */
  static readonly live: Set<Conn> = new Set();

  /** Destroys every connection still open (the scenario that made them is over). */
  static destroyAll(): void {
    for (const c of Conn.live) c.destroy();
  }

  constructor(socket: net.Socket) {
    this.socket = socket;
    Conn.live.add(this);
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (err) => this.finish(err.message));
    socket.on('close', () => this.finish());
  }

  /** Connects, retrying a refused connection for `retryMs` (a destination may be re-binding its port). */
  static async connect(host: string, port: number, retryMs = 3000): Promise<Conn> {
    const until = Date.now() + retryMs;
    for (;;) {
      try {
        const socket = await new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect({ host, port }, () => {
            s.off('error', reject);
            resolve(s);
          });
          s.once('error', reject);
        });
        return new Conn(socket);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ECONNREFUSED' || Date.now() > until) throw err;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  get closed(): boolean {
    return this.ended;
  }

  private finish(error?: string): void {
    if (this.ended) return;
    this.ended = true;
    Conn.live.delete(this);
    this.push(error ? { kind: 'closed', error } : { kind: 'closed' });
  }

  private push(e: Event): void {
    this.queue.push(e);
    this.arrival.wake();
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.byteLength === 0 ? d : Buffer.concat([this.buf, d]);
    for (;;) {
      if (this.buf.byteLength < HEADER_BYTES) return;
      const bodyLength = this.buf.readUInt32LE(0);
      const type = this.buf.readUInt8(4);
      const flags = this.buf.readUInt8(5);
      const reserved = this.buf.readUInt16LE(6);
      if (bodyLength > this.bodyLimit) this.oversized.push(`${typeName(type)} of ${bodyLength} body bytes`);
      if (bodyLength > MAX_DECLARED_BODY) {
        this.push({ kind: 'closed', error: `the peer declared a ${typeName(type)} body of ${bodyLength} bytes; the kit stops reading` });
        this.socket.destroy();
        return;
      }
      const trailer = (flags & FLAG_CHECKED) !== 0 ? TRAILER_BYTES : 0;
      const total = HEADER_BYTES + bodyLength + trailer;
      if (this.buf.byteLength < total) return;
      const header = this.buf.subarray(0, HEADER_BYTES);
      const body = Buffer.from(this.buf.subarray(HEADER_BYTES, HEADER_BYTES + bodyLength));
      let crc: Received['crc'];
      if (this.checked || trailer) {
        if (!trailer) crc = 'missing';
        else crc = this.buf.readUInt32LE(HEADER_BYTES + bodyLength) === frameCrc(header, type, body) ? 'ok' : 'mismatch';
      }
      const f: Received = { kind: 'frame', type, flags, reserved, body, ...(crc && { crc }) };
      this.buf = this.buf.subarray(total);
      this.log.push(f);
      this.push(f);
    }
  }

  /** The next frame, the close, or a timeout after `ms`. */
  async next(ms: number): Promise<Event> {
    if (this.queue.length === 0) await this.arrival.wait(ms);
    return this.queue.shift() ?? { kind: 'timeout', ms };
  }

  /** Puts an event back to be read first. */
  unshift(e: Event): void {
    if (e.kind !== 'timeout') this.queue.unshift(e);
  }

  /** The next event that is not one of the `skip` types (e.g. ROUND_ACK or ECHO_REPLY while waiting for READY). */
  async nextSkipping(ms: number, skip: readonly number[]): Promise<Event> {
    const until = Date.now() + ms;
    for (;;) {
      const e = await this.next(Math.max(1, until - Date.now()));
      if (e.kind !== 'frame' || !skip.includes(e.type)) return e;
    }
  }

  /** Writes bytes as they are; false if the connection is gone. */
  write(bytes: Uint8Array): Promise<boolean> {
    if (this.ended || this.socket.destroyed) return Promise.resolve(false);
    return new Promise((resolve) => {
      this.socket.write(bytes, (err) => resolve(!err));
    });
  }

  /** Sends a correct frame (CHECKED when the connection is). */
  send(type: number, body: Uint8Array): Promise<boolean> {
    return this.write(frame(type, body, { checked: this.checked }));
  }

  /** Ends our side and keeps reading (a refusal or FAILED may still come). */
  end(): void {
    if (!this.socket.destroyed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}
