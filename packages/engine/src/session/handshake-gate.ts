import { ErrorCode, HandshakeError, ProtocolError, toFerryError } from '../errors.ts';
import { Feature, MessageType, messageName, PROTOCOL_VERSION } from '../protocol/constants.ts';
import { frameChecksFor } from '../protocol/frame-check.ts';
import type { Frame } from '../protocol/frame.ts';
import { MAX_FRAME_BODY_BYTES } from '../protocol/limits.ts';
import type * as msg from '../protocol/messages.ts';
import { decode, encode, Msg } from '../protocol/registry.ts';
import { Inbox } from '../transport/inbox.ts';
import { authenticateSource } from '../transport/psk-auth.ts';
import type { TcpTransport } from '../transport/tcp.ts';
import { DESTINATION_TABLE } from './destination-table.ts';
import type { ListenOptions } from './listen-options.ts';
import { handlerFor } from './message-table.ts';

/**
 * The destination's door: reads a connection's HELLO and, when keyed, proves and checks the
 * pre-shared key (DESTINATION_TABLE's `handshake` state), before anything is allocated for it.
 * A source waits for the answer: anything it sends before is refused. Resolves with the HELLO.
 */
export async function greet(transport: TcpTransport, o: ListenOptions): Promise<msg.Hello> {
  const timeoutMs = o.handshakeTimeoutMs ?? 10_000;
  // HELLO and the PSK messages come before any version is chosen: never CHECKED.
  transport.setFrameChecks('off');
  // Frames queue here until the handshake is answered: a source may send HELLO and its
  // authentication nonce in one write.
  const inbox = new Inbox(transport, (frame) => {
    try {
      handlerFor(DESTINATION_TABLE, 'handshake', frame);
      return false;
    } catch (err) {
      transport.destroy(toFerryError(err, ErrorCode.UNEXPECTED_MESSAGE));
      return true;
    }
  });
  const frame = await inbox.next(timeoutMs, 'HELLO');
  if (frame.type !== MessageType.HELLO) {
    throw new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `first message must be HELLO, got ${messageName(frame.type)}`);
  }
  const hello = decode(Msg.HELLO, frame);
  if (o.psk || (hello.features & Feature.PSK_AUTH) !== 0) {
    const key = o.psk;
    if (!key) {
      throw new HandshakeError(
        ErrorCode.INCOMPATIBLE_GUEST,
        'the source asks for pre-shared-key authentication; this destination has no key',
      );
    }
    if ((hello.features & Feature.PSK_AUTH) === 0) {
      throw new HandshakeError(ErrorCode.AUTH_REQUIRED, 'this destination takes only sources authenticated with its pre-shared key');
    }
    const next = (): Promise<Frame> => inbox.next(timeoutMs, 'authentication');
    await authenticateSource(transport, next, key, hello.sessionId, Buffer.from(frame.body));
  }
  // A source waits for our answer; anything it sends before that breaks the protocol.
  const early = (what: string): ProtocolError =>
    new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `${what} sent before the handshake was answered`);
  if (inbox.pending > 0) throw early('a frame');
  transport.onFrame((f) => transport.destroy(early(messageName(f.type))));
  return hello;
}

/** The version of a session: the highest both sides speak (§5: a v1 source gets v1, and no ECHO). */
export function sessionVersion(hello: { readonly versionMax: number }): number {
  return Math.min(PROTOCOL_VERSION, hello.versionMax);
}

/**
 * Answers HELLO_ACCEPT with the session's version, and from the next frame on seals and
 * demands frame checksums where that version has them: the source sends nothing before it has
 * read the accept, so no frame of the old kind can follow.
 */
export function accept(transport: TcpTransport, hello: { readonly versionMax: number }): Promise<void> {
  const version = sessionVersion(hello);
  const sent = transport.send(encode(Msg.HELLO_ACCEPT, { version, maxFrameBodyBytes: MAX_FRAME_BODY_BYTES }));
  transport.setFrameChecks(frameChecksFor(version));
  return sent;
}

/** Sends a typed refusal (HELLO_REJECT) and closes. */
export async function refuse(transport: TcpTransport, code: string, message: string): Promise<void> {
  try {
    transport.write(encode(Msg.HELLO_REJECT, { code, message }));
    await Promise.race([transport.end(), new Promise((r) => setTimeout(r, 1000).unref())]);
  } catch {
    // The peer is gone already.
  }
  transport.destroy();
}
