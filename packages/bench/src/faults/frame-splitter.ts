/** Cuts a byte stream into whole Ferry frames by their header (length, and the trailer flag of version 3), without judging them. */
import { limits } from '@ferry/engine';

/** Past this a declared length is not a frame the proxy waits for: it passes bytes on unframed. */
const MAX_SPLIT_FRAME_BYTES = 64 * 2 ** 20;

/**
 * Protocol version 3 (docs/protocol.md §2.1): a frame whose header sets this flag is followed by
 * a 4-byte checksum trailer that its length field does not count.
 */
export const FRAME_FLAG_CHECKED = 0x01;
export const FRAME_TRAILER_BYTES = 4;

/** Bytes of the whole frame whose header starts `head`: header, body and trailer. */
export function frameBytesOf(head: Uint8Array): number {
  const body = head[0]! | (head[1]! << 8) | (head[2]! << 16) | (head[3]! << 24);
  return limits.FRAME_HEADER_BYTES + (body >>> 0) + ((head[5]! & FRAME_FLAG_CHECKED) !== 0 ? FRAME_TRAILER_BYTES : 0);
}

export class FrameSplitter {
  private chunks: Buffer[] = [];
  private total = 0;
  private frameBytes = -1;
  /** A length past the limit was seen: everything from here on is passed on as it comes. */
  unframed = false;

  /** The whole frames `chunk` completes (each a view, header included), in order. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.total += chunk.byteLength;
    const frames: Buffer[] = [];
    for (;;) {
      if (this.frameBytes < 0) {
        if (this.total < limits.FRAME_HEADER_BYTES) break;
        const head = this.chunks[0]!.byteLength >= limits.FRAME_HEADER_BYTES ? this.chunks[0]! : Buffer.concat(this.chunks);
        this.frameBytes = frameBytesOf(head);
        if (this.frameBytes > MAX_SPLIT_FRAME_BYTES) {
          this.unframed = true;
          break;
        }
      }
      if (this.total < this.frameBytes) break;
      const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.total);
      frames.push(all.subarray(0, this.frameBytes));
      const rest = all.subarray(this.frameBytes);
      this.chunks = rest.byteLength > 0 ? [rest] : [];
      this.total = rest.byteLength;
      this.frameBytes = -1;
    }
    return frames;
  }

  /** Bytes held towards an incomplete frame (or everything, once unframed), and forgets them. */
  take(): Buffer {
    const all = Buffer.concat(this.chunks, this.total);
    this.chunks = [];
    this.total = 0;
    this.frameBytes = -1;
    return all;
  }
}
