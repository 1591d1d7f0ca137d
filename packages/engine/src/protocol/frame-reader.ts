import { ErrorCode, FerryError, ProtocolError } from '../errors.ts';
import { type MessageType, messageName } from './constants.ts';
import { type Frame, notFerry, readFrameHeader } from './frame.ts';
import { checkFrame, FRAME_TRAILER_BYTES } from './frame-check.ts';
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
  /** A frame whose header is read and whose body (and trailer, when checked) is arriving. */
  private pending: { type: MessageType; body: Uint8Array; fill: number; header: Uint8Array | undefined } | undefined;
  private failed: FerryError | undefined;
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

  /**
   * Frame checksums (protocol version 3, §2.1): `off` refuses a CHECKED frame (versions 1 and
   * 2, and before HELLO_ACCEPT on the destination), `required` refuses an unchecked one (after
   * HELLO_ACCEPT in version 3), `auto` takes either (a source between HELLO and HELLO_ACCEPT,
   * when it cannot know yet). A CHECKED frame's trailer is verified before the frame is returned.
   */
  checks: 'off' | 'auto' | 'required' = 'auto';

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
            this.pending = undefined;
            frames.push(this.verified(p.type, p.body, p.header));
          }
          continue;
        }
        if (this.headerFill === 0 && chunk.byteLength - at >= FRAME_HEADER_BYTES) {
          // Fast path: the header is whole in this chunk.
          const view = new DataView(chunk.buffer, chunk.byteOffset + at, FRAME_HEADER_BYTES);
          const { type, bodyBytes, checked } = this.started
            ? readFrameHeader(view, 0, this.maxBodyBytes)
            : this.firstHeader(view, chunk, at);
          const header = checked ? chunk.subarray(at, at + FRAME_HEADER_BYTES) : undefined;
          const total = bodyBytes + this.trailerBytes(type, checked);
          at += FRAME_HEADER_BYTES;
          if (chunk.byteLength - at >= total) {
            frames.push(this.verified(type, chunk.subarray(at, at + total), header));
            at += total;
          } else {
            // The header is copied: it must outlive this chunk to be checked with the body.
            this.pending = { type, body: this.bodyBuffer(total), fill: 0, header: header?.slice() };
          }
          continue;
        }
        const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, chunk.byteLength - at);
        this.header.set(chunk.subarray(at, at + take), this.headerFill);
        this.headerFill += take;
        at += take;
        if (this.headerFill === FRAME_HEADER_BYTES) {
          this.headerFill = 0;
          const { type, bodyBytes, checked } = this.started
            ? readFrameHeader(this.headerView, 0, this.maxBodyBytes)
            : this.firstHeader(this.headerView, this.header, 0);
          const total = bodyBytes + this.trailerBytes(type, checked);
          const header = checked ? this.header.slice() : undefined;
          if (total === 0) frames.push({ type, body: new Uint8Array(0) });
          else this.pending = { type, body: this.bodyBuffer(total), fill: 0, header };
        }
      }
    } catch (err) {
      // A stream that broke framing once cannot be trusted again.
      this.failed = err instanceof FerryError ? err : new ProtocolError(ErrorCode.FRAME_MALFORMED, String(err), { cause: err });
      throw this.failed;
    }
    return frames;
  }

  /** Trailer bytes after a frame's body, once its CHECKED flag is held against `checks`. */
  private trailerBytes(type: MessageType, checked: boolean): number {
    if (checked && this.checks === 'off') {
      throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `frame ${messageName(type)} is CHECKED in a session without frame checksums`);
    }
    if (!checked && this.checks === 'required') {
      throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `frame ${messageName(type)} has no checksum in a version 3 session`);
    }
    return checked ? FRAME_TRAILER_BYTES : 0;
  }

  /** The frame of `whole` (its body, and its trailer when `header` is given, checked). */
  private verified(type: MessageType, whole: Uint8Array, header: Uint8Array | undefined): Frame {
    if (!header) return { type, body: whole };
    const body = whole.subarray(0, whole.byteLength - FRAME_TRAILER_BYTES);
    checkFrame(header, type, body, whole.subarray(body.byteLength));
    return { type, body };
  }

  /** The connection's first header: one that fails as no Ferry frame would is reported as a peer that is not Ferry. */
  private firstHeader(view: DataView, bytes: Uint8Array, at: number): { type: MessageType; bodyBytes: number; checked: boolean } {
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
