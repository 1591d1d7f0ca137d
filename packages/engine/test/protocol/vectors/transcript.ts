// Recorded sessions (packages/conformance/vectors/sessions/*.json): every frame of a migration, both directions, decoded.
import type net from 'node:net';
import { messageName, MessageType } from '../../../src/protocol/constants.ts';
import { FrameReader } from '../../../src/protocol/frame-reader.ts';
import type { Frame } from '../../../src/protocol/frame.ts';
import { PageBatch } from '../../../src/protocol/pages.ts';
import { decode, specOf } from '../../../src/protocol/registry.ts';
import { wholeFrameLength } from '../../harness/frame-bytes.ts';
import type { Direction } from '../../harness/frame-proxy.ts';
import { toJson } from './content.ts';
import { specFields } from './messages.ts';

export interface RecordedFrame {
  readonly direction: Direction;
  readonly message: string;
  /** The frame as it crossed the wire (header, body, CRC trailer in version 3). */
  readonly hex: string;
  readonly fields: Record<string, unknown>;
  /** Fields that depend on timing or chance: a replay ignores them. */
  readonly timing?: readonly string[];
}

export interface Transcript {
  readonly version: number;
  readonly description: string;
  readonly guest: unknown;
  readonly pages: unknown;
  readonly deviceState: string;
  readonly frames: readonly RecordedFrame[];
}

/** Fields of each message that differ between two runs of the same migration. */
const TIMING: Partial<Record<string, readonly string[]>> = {
  HELLO: ['sessionId'],
  ROUND_ACK: ['bytesReceived'],
  RESUMED: ['resumeMicros', 'verifyMicros'],
};

/** The decoded fields of a frame: PAGES as its batch header and entries, every other message by its codec. */
export function fieldsOf(frame: Frame, pageSize: number): Record<string, unknown> {
  if (frame.type === MessageType.PAGES) {
    const b = new PageBatch(frame.body, pageSize);
    const entries = Array.from({ length: b.count }, (_, i) => ({
      page: b.pageIndex(i),
      encoding: b.encoding(i),
      length: b.length(i),
      checksum: toJson(b.checksum(i)),
    }));
    return { region: b.regionIndex, round: b.round, entries };
  }
  if (frame.type === MessageType.PROBE_DATA) return { bytes: frame.body.byteLength };
  const m = specOf(frame.type);
  return specFields(m.name, toJson(decode(m, frame))) as Record<string, unknown>;
}

/** One whole frame's bytes as a recorded entry. */
export function recordFrame(direction: Direction, bytes: Uint8Array, pageSize: number): RecordedFrame {
  const reader = new FrameReader(64 * 1024 * 1024);
  reader.checks = 'auto';
  const [frame] = reader.push(bytes);
  const message = messageName(frame!.type);
  const timing = TIMING[message];
  const hex = Buffer.from(bytes).toString('hex');
  return { direction, message, hex, fields: fieldsOf(frame!, pageSize), ...(timing && { timing }) };
}

/** How many pages the source's PAGES frames among `frames` carry (entries, zero pages included). */
export function pagesSent(frames: readonly RecordedFrame[]): number {
  return frames
    .filter((f) => f.direction === 'to-destination' && f.message === 'PAGES')
    .reduce((n, f) => n + (f.fields.entries as unknown[]).length, 0);
}

/** `fields` without the ones a replay ignores. */
export function stable(fields: Record<string, unknown>, ignore: readonly string[] = []): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([k]) => !ignore.includes(k)));
}

/** A connection read frame by frame, raw: whole frames (trailer included) as they arrive, in order. */
export class RawFrames {
  private pending: Buffer = Buffer.alloc(0);
  private readonly frames: Buffer[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;

  constructor(socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      for (let length = wholeFrameLength(this.pending); length !== undefined; length = wholeFrameLength(this.pending)) {
        this.frames.push(Buffer.from(this.pending.subarray(0, length)));
        this.pending = this.pending.subarray(length);
      }
      this.waiter?.();
    });
    socket.on('close', () => {
      this.ended = true;
      this.waiter?.();
    });
  }

  /** The next whole frame, or undefined once the connection closed without one. */
  async next(timeoutMs = 10_000): Promise<Buffer | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0 && !this.ended) {
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, Math.max(0, deadline - Date.now())).unref();
      });
      this.waiter = undefined;
      if (Date.now() >= deadline) break;
    }
    return this.frames.shift();
  }
}
