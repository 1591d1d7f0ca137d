import { ErrorCode, type FerryError, HandshakeError, MigrationError, ProtocolError, toFerryError } from '../errors.ts';
import { Feature, MessageType, messageName } from '../protocol/constants.ts';
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
import { destinationOffer, destinationTerms, type SessionTerms } from './negotiation.ts';

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
  // ABORT may come at any point of the handshake (a source cancelled while we authenticate or
  // admit it): nothing was allocated, so the connection just closes, unanswered.
  const next = async (what: string): Promise<Frame> => {
    const f = await inbox.next(timeoutMs, what);
    if (f.type === MessageType.ABORT) throw sourceAborted(f);
    return f;
  };
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
    await authenticateSource(transport, () => next('authentication'), key, hello.sessionId, Buffer.from(frame.body));
  }
  // A source waits for our answer; anything it sends before that breaks the protocol (but ABORT).
  const early = (f: Frame): FerryError =>
    f.type === MessageType.ABORT
      ? sourceAborted(f)
      : new ProtocolError(ErrorCode.UNEXPECTED_MESSAGE, `${messageName(f.type)} sent before the handshake was answered`);
  if (inbox.pending > 0) throw early(await inbox.next(timeoutMs, 'HELLO'));
  transport.onFrame((f) => transport.destroy(early(f)));
  return hello;
}

/**
 * The terms this destination offers `hello`: the highest version both speak (a v1 source gets
 * v1, and no ECHO), its frame limit, and from version 4 the features and encodings it takes.
 */
export function termsFor(o: ListenOptions, hello: msg.Hello): SessionTerms {
  return destinationTerms(hello, destinationOffer(o), o.maxFrameBodyBytes ?? MAX_FRAME_BODY_BYTES);
}

/**
 * Answers HELLO_ACCEPT with the session's terms, and from the next frame on seals and demands
 * frame checksums where its version has them: the source sends nothing before it has read the
 * accept, so no frame of the old kind can follow.
 */
export function accept(transport: TcpTransport, terms: SessionTerms): Promise<void> {
  const sent = transport.send(
    encode(Msg.HELLO_ACCEPT, {
      version: terms.version,
      maxFrameBodyBytes: terms.maxFrameBodyBytes,
      features: terms.features,
      encodings: terms.encodings,
    }),
  );
  transport.setFrameChecks(frameChecksFor(terms.version));
  return sent;
}

/** The source sent ABORT before its migration began: FERRY_ABORTED with its reason. */
function sourceAborted(frame: Frame): MigrationError {
  let why = 'no reason given';
  try {
    const report = decode(Msg.ABORT, frame);
    why = `${report.code}: ${report.message}`;
  } catch {
    // A malformed ABORT still aborts.
  }
  return new MigrationError(ErrorCode.ABORTED, `the source aborted during the handshake (${why})`);
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
