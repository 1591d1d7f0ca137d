import { ErrorCode, MigrationError } from '../errors.ts';
import { messageName } from '../protocol/constants.ts';
import type { FrameReader } from '../protocol/frame-reader.ts';
import { FRAME_DEADLINE_MS, FRAME_HEADER_BYTES, MIN_FRAME_RATE_BYTES_PER_SEC } from '../protocol/limits.ts';

/**
 * The time a frame may take to arrive once its first byte has: `baseMs` plus its size at
 * MIN_FRAME_RATE_BYTES_PER_SEC (the header's size until the header is whole and declares the
 * rest). Bytes that trickle in do not extend it, unlike the idle timeout, so a peer sending a
 * byte a second cannot keep a frame open for ever.
 *
 * One unref'd timer per connection, armed lazily: a timer that fires before the deadline of the
 * frame now being read (an earlier frame set it) re-arms itself for the rest, so a stream of
 * frames costs a timer per deadline period, not one per frame. `track()` runs once per chunk,
 * reads the clock only when a frame begins or its header completes, and allocates nothing.
 */
export class FrameDeadline {
  /** The fixed part of the allowance, milliseconds. */
  baseMs: number = FRAME_DEADLINE_MS;
  private readonly reader: FrameReader;
  private readonly peer: string;
  private readonly expired: (error: MigrationError) => void;
  /** When the frame being read began to arrive (performance.now()); NaN between frames. */
  private startedAtMs = Number.NaN;
  /** What the frame being read is allowed, from `startedAtMs`. */
  private allowedMs = 0;
  /** Whether `allowedMs` counts the body: the header was whole. */
  private sized = false;
  private timer: NodeJS.Timeout | undefined;
  private timerDueAtMs = 0;

  constructor(reader: FrameReader, peer: string, expired: (error: MigrationError) => void) {
    this.reader = reader;
    this.peer = peer;
    this.expired = expired;
  }

  /** After each `reader.push()`; `completed`: it returned frames, so a frame still open began in that chunk. */
  track(completed: boolean): void {
    const r = this.reader;
    if (!r.inFrame) {
      this.startedAtMs = Number.NaN;
      return;
    }
    if (completed || Number.isNaN(this.startedAtMs)) {
      this.startedAtMs = performance.now();
      this.allow(r.partialDeclaredBytes);
    } else if (!this.sized) {
      const declared = r.partialDeclaredBytes;
      if (declared !== undefined) this.allow(declared);
    }
  }

  /** Clears the timer; the connection is closing. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    this.startedAtMs = Number.NaN;
  }

  private allow(declaredBytes: number | undefined): void {
    this.sized = declaredBytes !== undefined;
    this.allowedMs = this.baseMs + ((declaredBytes ?? FRAME_HEADER_BYTES) / MIN_FRAME_RATE_BYTES_PER_SEC) * 1000;
    const dueAtMs = this.startedAtMs + this.allowedMs;
    // A timer due sooner re-arms itself when it fires; only one due later must move.
    if (this.timer === undefined || this.timerDueAtMs > dueAtMs) this.arm(dueAtMs);
  }

  private arm(dueAtMs: number): void {
    clearTimeout(this.timer);
    this.timerDueAtMs = dueAtMs;
    this.timer = setTimeout(this.check, Math.max(1, Math.ceil(dueAtMs - performance.now())));
    this.timer.unref();
  }

  private readonly check = (): void => {
    this.timer = undefined;
    if (Number.isNaN(this.startedAtMs)) return;
    const now = performance.now();
    const dueAtMs = this.startedAtMs + this.allowedMs;
    if (now < dueAtMs) {
      this.arm(dueAtMs);
      return;
    }
    const r = this.reader;
    const type = r.partialType;
    const what = type === undefined ? 'frame header' : `${messageName(type)} frame`;
    const declared = r.partialDeclaredBytes ?? FRAME_HEADER_BYTES;
    const elapsedMs = Math.round(now - this.startedAtMs);
    this.startedAtMs = Number.NaN;
    this.expired(
      new MigrationError(
        ErrorCode.TIMEOUT,
        `${what} from ${this.peer} incomplete after ${elapsedMs} ms: ${r.partialReceivedBytes} of ${declared} bytes (allowed ${Math.round(this.allowedMs)} ms)`,
      ),
    );
  };
}
