import { ErrorCode, type FerryError, ProtocolError } from '../errors.ts';
import { messageName } from '../protocol/constants.ts';
import type { Frame } from '../protocol/frame.ts';
import { deferred, type Deferred } from '../util/deferred.ts';
import { withTimeout } from '../util/timeout.ts';
import type { FrameTransport } from './transport.ts';

/** Frames a peer may have outstanding before we read them; more is a protocol violation. */
const MAX_QUEUED_FRAMES = 16;

/**
 * Turns a transport's pushed frames into awaitable replies. `route` sees every frame first and
 * consumes the ones handled on arrival (acknowledgements, failure reports); the rest wait in a
 * short bounded queue for `next()`.
 */
export class Inbox {
  private readonly queue: Frame[] = [];
  private waiter: Deferred<Frame> | undefined;
  private error: FerryError | undefined;

  constructor(transport: FrameTransport, route: (frame: Frame) => boolean) {
    transport.onClose((err) => {
      this.error = err;
      this.waiter?.reject(err);
    });
    transport.onFrame((frame) => {
      if (route(frame)) return;
      if (this.waiter && !this.waiter.settled) {
        this.waiter.resolve(frame);
        return;
      }
      if (this.queue.length >= MAX_QUEUED_FRAMES) {
        transport.destroy(new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `peer sent ${messageName(frame.type)} nobody asked for`));
        return;
      }
      this.queue.push(frame);
    });
  }

  /** Frames received and not yet taken with `next()`. */
  get pending(): number {
    return this.queue.length;
  }

  /** The next unrouted frame, or the reason the transport closed. */
  next(timeoutMs: number, what: string): Promise<Frame> {
    const queued = this.queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.error) return Promise.reject(this.error);
    this.waiter = deferred<Frame>();
    return withTimeout(this.waiter.promise, timeoutMs, what);
  }
}
