import { ErrorCode, ProtocolError } from '../errors.ts';
import type * as msg from '../protocol/messages.ts';
import { encode, Msg } from '../protocol/registry.ts';
import type { FrameTransport } from '../transport/transport.ts';

/** Device state travels in chunks no larger than this. */
export const DEVICE_STATE_CHUNK_BYTES: number = 4 * 1024 * 1024;

/** Bytes of a DEVICE_STATE body before its data: u64 total, u64 offset. */
const DEVICE_STATE_HEADER_BYTES = 16;

/**
 * Sends `state` as DEVICE_STATE chunks in order, each at most 4 MiB and within the destination's
 * `maxFrameBodyBytes`; one empty chunk for an empty state.
 */
export async function sendDeviceState(transport: FrameTransport, state: Uint8Array, maxFrameBodyBytes: number): Promise<void> {
  const chunkBytes = Math.min(DEVICE_STATE_CHUNK_BYTES, maxFrameBodyBytes - DEVICE_STATE_HEADER_BYTES);
  let offset = 0;
  do {
    const data = state.subarray(offset, offset + chunkBytes);
    await transport.send(encode(Msg.DEVICE_STATE, { totalBytes: state.byteLength, offset, data }));
    offset += data.byteLength;
  } while (offset < state.byteLength);
}

/**
 * The destination's side: DEVICE_STATE chunks put together in order, bounded by `limitBytes`
 * before anything is allocated.
 */
export class DeviceStateAssembler {
  private state: Uint8Array | undefined;
  private fill = 0;

  constructor(private readonly limitBytes: number) {}

  /** Adds one chunk; true once the whole state is here. */
  add(chunk: msg.DeviceStateChunk): boolean {
    if (chunk.totalBytes > this.limitBytes) {
      throw new ProtocolError(
        ErrorCode.FRAME_TOO_LARGE,
        `device state of ${chunk.totalBytes} bytes exceeds the limit of ${this.limitBytes}`,
      );
    }
    this.state ??= new Uint8Array(chunk.totalBytes);
    if (chunk.totalBytes !== this.state.byteLength || chunk.offset !== this.fill) {
      throw new ProtocolError(
        ErrorCode.FRAME_MALFORMED,
        `device state chunk at ${chunk.offset} of ${chunk.totalBytes}, expected ${this.fill} of ${this.state.byteLength}`,
      );
    }
    this.state.set(chunk.data, chunk.offset);
    this.fill += chunk.data.byteLength;
    return this.complete;
  }

  get complete(): boolean {
    return this.state !== undefined && this.fill === this.state.byteLength;
  }

  /** The whole state; empty before any chunk. */
  get bytes(): Uint8Array {
    return this.state ?? new Uint8Array(0);
  }
}
