import type { FerryError } from '../errors.ts';
import type { Frame } from '../protocol/frame.ts';

/**
 * A bidirectional, ordered, reliable stream of frames. The orchestrators speak only to this
 * port, so a test or an embedding can run Ferry over anything that keeps order (TCP here;
 * TLS and several channels in later versions).
 */
export interface FrameTransport {
  /** Handler for each frame received; called synchronously in arrival order. */
  onFrame(handler: (frame: Frame) => void): void;
  /** Called once when the transport closes for any reason; `error` is why. */
  onClose(handler: (error: FerryError) => void): void;
  /**
   * Queues bytes; false means the caller should await `drain()` before queueing more.
   * `onWritten` runs once the transport no longer references `bytes` (written out, or the
   * transport closed), so the caller may reuse the buffer.
   */
  write(bytes: Uint8Array, onWritten?: () => void): boolean;
  /** Resolves once queued bytes have gone below the high-water mark; rejects if the transport closes. */
  drain(): Promise<void>;
  /** Queues and, if the queue is full, waits for it to drain. */
  send(bytes: Uint8Array): Promise<void>;
  /** A final frame to send when the transport fails on its own (framing error, timeout). */
  setLastWords(lastWords: (error: FerryError) => Uint8Array | undefined): void;
  /** Fails the transport with FERRY_TIMEOUT when no byte moves either way for `ms` (0: never). */
  setIdleTimeout(ms: number): void;
  /** Frame checksums (version 3, docs/protocol.md §2.1): `required` seals and demands them, `off` refuses them, `auto` takes either. */
  setFrameChecks(mode: 'off' | 'auto' | 'required'): void;
  /** The frame size limit applied to incoming frames; raised after the handshake. */
  setMaxBodyBytes(bytes: number): void;
  /** The largest frame body the peer takes: larger frames are refused (FERRY_INVALID_STATE), not sent. */
  setMaxSendBodyBytes(bytes: number): void;
  /** Flushes and closes; the peer sees end of stream. */
  end(): Promise<void>;
  /** Closes at once. */
  destroy(error?: FerryError): void;
  /** Bytes handed to `write`, queued ones included. */
  readonly bytesWritten: number;
  /** Bytes written but still queued in user space. */
  readonly queuedBytes: number;
  readonly bytesRead: number;
  readonly closed: boolean;
  readonly remoteAddress: string;
}
