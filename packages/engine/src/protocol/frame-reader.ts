import { ErrorCode, ProtocolError } from '../errors.ts';
import type { MessageType } from './constants.ts';
import { type Frame, notFerry, readFrameHeader } from './frame.ts';
import { FRAME_HEADER_BYTES } from './limits.ts';

/**
 * Turns a byte stream into frames: `push(chunk)` returns every frame that chunk completes.
 * A small state machine over a list of chunks. The header is checked (type, flags, length
 * against `maxBodyBytes`) before any body byte is kept, so memory held is bounded by the limit.
 * A frame that lies inside one chunk is returned as a view; one that spans chunks is copied
 * once into a buffer of exactly its size.
 */
export class FrameReader {
  /** May be raised after the handshake (`MAX_HELLO_BODY_BYTES` before, `MAX_FRAME_BODY_BYTES` after). */
  maxBodyBytes: number;
  /** Total bytes pushed, for the return path's byte counts. */
  bytesRead = 0;

  private readonly header = new Uint8Array(FRAME_HEADER_BYTES);
  private readonly headerView = new DataView(this.header.buffer);
  private headerFill = 0;
  private pending: { type: MessageType; body: Uint8Array; fill: number } | undefined;
  private failed: ProtocolError | undefined;
  /** Whether a header has passed its checks: until then a bad one may mean a peer that is not Ferry at all. */
  private started = false;
  /**
   * Two buffers that bodies of frames spanning chunks take turns in, when `reuseBodies` is on:
   * a push completes at most one such frame and starts at most one, so they never collide.
   */
  private spares: [Uint8Array | undefined, Uint8Array | undefined] = [undefined, undefined];
  private nextSpare = 0;
  /**
   * Off by default. On: a body that spans chunks may be overwritten by the push after next, so
   * every frame must be consumed before the handler returns (no queueing). Saves an allocation
   * of up to a frame's size per frame on the hot path, and the garbage collections they cause.
   */
  reuseBodies = false;

  constructor(maxBodyBytes: number) {
    this.maxBodyBytes = maxBodyBytes;
  }

  /** Bytes buffered towards an incomplete frame. */
  get buffered(): number {
    return this.headerFill + (this.pending?.fill ?? 0);
  }

  /** True while a frame has begun and not ended: part of its header, or its header and part of its body. */
  get inFrame(): boolean {
    return this.headerFill > 0 || this.pending !== undefined;
  }

  /** The incomplete frame's type once its header is whole; undefined before. */
  get partialType(): MessageType | undefined {
    return this.pending?.type;
  }

  /** The incomplete frame's declared size, header included, once its header is whole; undefined before. */
  get partialDeclaredBytes(): number | undefined {
    return this.pending && FRAME_HEADER_BYTES + this.pending.body.byteLength;
  }

  /** Bytes of the incomplete frame received so far, header included. */
  get partialReceivedBytes(): number {
    return this.pending ? FRAME_HEADER_BYTES + this.pending.fill : this.headerFill;
  }

  push(chunk: Uint8Array): Frame[] {
    if (this.failed) throw this.failed;
    this.bytesRead += chunk.byteLength;
    const frames: Frame[] = [];
    let at = 0;
    try {
      while (at < chunk.byteLength) {
        if (this.pending) {
          const p = this.pending;
          const take = Math.min(p.body.byteLength - p.fill, chunk.byteLength - at);
          p.body.set(chunk.subarray(at, at + take), p.fill);
          p.fill += take;
          at += take;
          if (p.fill === p.body.byteLength) {
            frames.push({ type: p.type, body: p.body });
            this.pending = undefined;
          }
          continue;
        }
        if (this.headerFill === 0 && chunk.byteLength - at >= FRAME_HEADER_BYTES) {
          // Fast path: the header is whole in this chunk.
          const view = new DataView(chunk.buffer, chunk.byteOffset + at, FRAME_HEADER_BYTES);
          const { type, bodyBytes } = this.started ? readFrameHeader(view, 0, this.maxBodyBytes) : this.firstHeader(view, chunk, at);
          at += FRAME_HEADER_BYTES;
          if (chunk.byteLength - at >= bodyBytes) {
            frames.push({ type, body: chunk.subarray(at, at + bodyBytes) });
            at += bodyBytes;
          } else {
            this.pending = { type, body: this.bodyBuffer(bodyBytes), fill: 0 };
          }
          continue;
        }
        const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, chunk.byteLength - at);
        this.header.set(chunk.subarray(at, at + take), this.headerFill);
        this.headerFill += take;
        at += take;
        if (this.headerFill === FRAME_HEADER_BYTES) {
          this.headerFill = 0;
          const { type, bodyBytes } = this.started
            ? readFrameHeader(this.headerView, 0, this.maxBodyBytes)
            : this.firstHeader(this.headerView, this.header, 0);
          if (bodyBytes === 0) frames.push({ type, body: new Uint8Array(0) });
          else this.pending = { type, body: this.bodyBuffer(bodyBytes), fill: 0 };
        }
      }
    } catch (err) {
      // A stream that broke framing once cannot be trusted again.
      this.failed = err instanceof ProtocolError ? err : new ProtocolError(ErrorCode.FRAME_MALFORMED, String(err), { cause: err });
      throw this.failed;
    }
    return frames;
  }

  /** The connection's first header: one that fails as no Ferry frame would is reported as a peer that is not Ferry. */
  private firstHeader(view: DataView, bytes: Uint8Array, at: number): { type: MessageType; bodyBytes: number } {
    try {
      const header = readFrameHeader(view, 0, this.maxBodyBytes);
      this.started = true;
      return header;
    } catch (err) {
      throw err instanceof ProtocolError ? notFerry(err, bytes.subarray(at)) : err;
    }
  }

  private bodyBuffer(bytes: number): Uint8Array {
    if (!this.reuseBodies) return new Uint8Array(bytes);
    const i = this.nextSpare;
    this.nextSpare = 1 - i;
    let spare = this.spares[i];
    if (!spare || spare.byteLength < bytes) {
      spare = new Uint8Array(bytes);
      this.spares[i] = spare;
    }
    return spare.subarray(0, bytes);
  }

  /** Called at end of stream: a partial frame means the peer stopped mid-message. */
  end(): void {
    if (this.buffered > 0 || this.pending) {
      throw new ProtocolError(ErrorCode.FRAME_TRUNCATED, `stream ended inside a frame (${this.buffered} bytes buffered)`);
    }
  }
}
