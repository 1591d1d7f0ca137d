import { randomBytes } from 'node:crypto';
import { ErrorCode, ProtocolError, toFerryError } from '../errors.ts';
import type { MemoryLayout } from '../memory/layout.ts';
import { Intent, MessageType, messageName, MIN_PROTOCOL_VERSION, PROTOCOL_VERSION } from '../protocol/constants.ts';
import { decodeBody, encodeFrame, type Frame } from '../protocol/frame.ts';
import { MAX_HELLO_BODY_BYTES } from '../protocol/limits.ts';
import * as msg from '../protocol/messages.ts';
import { TcpTransport } from '../transport/tcp.ts';
import { deferred } from '../util/deferred.ts';
import { withTimeout } from '../util/timeout.ts';

export interface ProbeOptions {
  readonly host: string;
  readonly port: number;
  readonly layout: MemoryLayout;
  readonly guestId?: string;
  readonly timeoutMs?: number;
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
  const transport = await TcpTransport.connect({ host: options.host, port: options.port, timeoutMs, maxBodyBytes: MAX_HELLO_BODY_BYTES });
  try {
    const reply = deferred<Frame>();
    transport.onClose((err) => reply.reject(err));
    transport.onFrame((f) => reply.resolve(f));
    await transport.send(
      encodeFrame(MessageType.HELLO, msg.hello, {
        versionMin: MIN_PROTOCOL_VERSION,
        versionMax: PROTOCOL_VERSION,
        intent: Intent.PROBE,
        sessionId: randomBytes(16),
        pageSize: options.layout.pageSize,
        features: 0,
        guestId: options.guestId ?? '',
        regions: options.layout.regions,
      }),
    );
    const frame = await withTimeout(reply.promise, timeoutMs, 'probe');
    if (frame.type === MessageType.HELLO_ACCEPT) {
      const a = decodeBody(msg.helloAccept, frame.body);
      return { accepted: true, version: a.version, maxFrameBodyBytes: a.maxFrameBodyBytes };
    }
    if (frame.type === MessageType.HELLO_REJECT) {
      const r = decodeBody(msg.errorReport, frame.body);
      return { accepted: false, code: r.code, reason: r.message };
    }
    throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `probe got ${messageName(frame.type)}`);
  } catch (err) {
    throw toFerryError(err, ErrorCode.CONNECTION_LOST);
  } finally {
    transport.destroy();
  }
}
