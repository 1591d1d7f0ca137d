import { randomBytes } from 'node:crypto';
import { ErrorCode, HandshakeError, ProtocolError, toFerryError } from '../errors.ts';
import type { MemoryLayout } from '../memory/layout.ts';
import { Feature, Intent, MessageType, messageName, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION } from '../protocol/constants.ts';
import { decodeBody, encodeFrame, type Frame } from '../protocol/frame.ts';
import { FRAME_HEADER_BYTES, MAX_HELLO_BODY_BYTES } from '../protocol/limits.ts';
import * as msg from '../protocol/messages.ts';
import { Inbox } from '../transport/inbox.ts';
import { authenticateToDestination } from '../transport/psk-auth.ts';
import { TcpTransport } from '../transport/tcp.ts';
import type { TlsOptions } from '../transport/tls-options.ts';
import { deferred } from '../util/deferred.ts';
import { withTimeout } from '../util/timeout.ts';

export interface ProbeOptions {
  readonly host: string;
  readonly port: number;
  readonly layout: MemoryLayout;
  readonly guestId?: string;
  readonly timeoutMs?: number;
  /** The pre-shared key, when the destination requires one (see `MigrateOptions.psk`). */
  readonly psk?: Uint8Array;
  /** Mutual TLS, when the destination requires it (see `MigrateOptions.tls`). */
  readonly tls?: TlsOptions;
}

export type ProbeResult =
  | { readonly accepted: true; readonly version: number; readonly maxFrameBodyBytes: number }
  | { readonly accepted: false; readonly code: string; readonly reason: string };

/**
 * Asks a destination whether it would take a guest of this layout, without moving a page: the
 * same HELLO a migration sends, with the PROBE intent. A refusal is a result, not an error;
 * an unreachable or misbehaving destination rejects with a FerryError.
 */
export async function probe(options: ProbeOptions): Promise<ProbeResult> {
  const timeoutMs = options.timeoutMs ?? 10_000;
  const transport = await TcpTransport.connect({
    host: options.host,
    port: options.port,
    timeoutMs,
    maxBodyBytes: MAX_HELLO_BODY_BYTES,
    ...(options.tls !== undefined && { tls: options.tls }),
  });
  try {
    const reply = deferred<Frame>();
    if (!options.psk) {
      transport.onClose((err) => reply.reject(err));
      transport.onFrame((f) => reply.resolve(f));
    }
    const sessionId = randomBytes(16);
    const hello = encodeFrame(MessageType.HELLO, msg.hello, {
      versionMin: MIN_PROTOCOL_VERSION,
      versionMax: PROTOCOL_VERSION,
      intent: Intent.PROBE,
      sessionId,
      pageSize: options.layout.pageSize,
      features: options.psk ? Feature.PSK_AUTH : 0,
      guestId: options.guestId ?? '',
      regions: options.layout.regions,
    });
    await transport.send(hello);
    if (options.psk) {
      const inbox = new Inbox(transport, () => false);
      const next = (): Promise<Frame> => inbox.next(timeoutMs, 'authentication');
      try {
        await authenticateToDestination(transport, next, options.psk, sessionId, hello.subarray(FRAME_HEADER_BYTES));
      } catch (err) {
        if (err instanceof HandshakeError) return { accepted: false, code: err.code, reason: err.message };
        throw err;
      }
      const answer = await next();
      return probeAnswer(answer);
    }
    return probeAnswer(await withTimeout(reply.promise, timeoutMs, 'probe'));
  } catch (err) {
    throw toFerryError(err, ErrorCode.CONNECTION_LOST);
  } finally {
    transport.destroy();
  }
}

function probeAnswer(frame: Frame): ProbeResult {
  if (frame.type === MessageType.HELLO_ACCEPT) {
    const a = decodeBody(msg.helloAccept, frame.body);
    return { accepted: true, version: a.version, maxFrameBodyBytes: a.maxFrameBodyBytes };
  }
  if (frame.type === MessageType.HELLO_REJECT) {
    const r = decodeBody(msg.errorReport, frame.body);
    return { accepted: false, code: r.code, reason: r.message };
  }
  throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `probe got ${messageName(frame.type)}`);
}
