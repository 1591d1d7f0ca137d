import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { ErrorCode, HandshakeError } from '../errors.ts';
import type { Frame } from '../protocol/frame.ts';
import { AUTH_NONCE_BYTES } from '../protocol/limits.ts';
import { decode, encode, Msg } from '../protocol/registry.ts';
import type { FrameTransport } from './transport.ts';

/**
 * Mutual authentication with a pre-shared key: HMAC-SHA-256 challenge and response with a
 * fresh nonce from each side, bound to the session id and to the HELLO exactly as sent. The
 * key never crosses the wire; a recorded exchange cannot be replayed because the other side's
 * nonce is new each time; a HELLO altered in flight makes both proofs fail. It authenticates
 * the handshake only: the page stream after it is not encrypted or MACed (TLS is the option
 * for that).
 *
 *   S -> D  HELLO (feature PSK_AUTH), AUTH_SOURCE { Ns }
 *   D -> S  AUTH_CHALLENGE { Nd, HMAC(K, "ferry/1 destination" | sessionId | H(HELLO) | Ns | Nd) }
 *   S -> D  AUTH_PROOF { HMAC(K, "ferry/1 source" | sessionId | H(HELLO) | Ns | Nd) }
 *   D -> S  HELLO_ACCEPT or HELLO_REJECT
 */
export function authProof(
  key: Uint8Array,
  role: 'source' | 'destination',
  sessionId: Uint8Array,
  hello: Uint8Array,
  ns: Uint8Array,
  nd: Uint8Array,
): Buffer {
  const transcript = createHash('sha256').update(hello).digest();
  return createHmac('sha256', key).update(`ferry/1 ${role}`).update(sessionId).update(transcript).update(ns).update(nd).digest();
}

export function proofMatches(expected: Uint8Array, actual: Uint8Array): boolean {
  return expected.byteLength === actual.byteLength && timingSafeEqual(expected, actual);
}

export function newNonce(): Buffer {
  return randomBytes(AUTH_NONCE_BYTES);
}

/**
 * The source's side, after its HELLO (`helloBody`) went out: send Ns, check the destination's
 * proof, send ours. `next` yields the destination's frames. Throws HandshakeError
 * FERRY_AUTH_FAILED when the destination does not know the key.
 */
export async function authenticateToDestination(
  transport: FrameTransport,
  next: () => Promise<Frame>,
  key: Uint8Array,
  sessionId: Uint8Array,
  helloBody: Uint8Array,
): Promise<void> {
  const ns = newNonce();
  await transport.send(encode(Msg.AUTH_SOURCE, { nonce: ns }));
  const frame = await next();
  if (frame.type === Msg.HELLO_REJECT.type) {
    const r = decode(Msg.HELLO_REJECT, frame);
    throw new HandshakeError(
      r.code === ErrorCode.AUTH_REQUIRED ? ErrorCode.AUTH_REQUIRED : ErrorCode.AUTH_FAILED,
      `destination refused: ${r.message}`,
    );
  }
  const challenge = decode(Msg.AUTH_CHALLENGE, frame);
  if (!proofMatches(authProof(key, 'destination', sessionId, helloBody, ns, challenge.nonce), challenge.mac)) {
    throw new HandshakeError(ErrorCode.AUTH_FAILED, 'the destination does not know the pre-shared key');
  }
  await transport.send(encode(Msg.AUTH_PROOF, { mac: authProof(key, 'source', sessionId, helloBody, ns, challenge.nonce) }));
}

/**
 * The destination's side, after a HELLO (`helloBody`) asking for PSK_AUTH: read Ns, answer with
 * Nd and our proof, check the source's. Throws HandshakeError FERRY_AUTH_FAILED otherwise.
 */
export async function authenticateSource(
  transport: FrameTransport,
  next: () => Promise<Frame>,
  key: Uint8Array,
  sessionId: Uint8Array,
  helloBody: Uint8Array,
): Promise<void> {
  const ns = decode(Msg.AUTH_SOURCE, await next()).nonce;
  const nd = newNonce();
  await transport.send(
    encode(Msg.AUTH_CHALLENGE, {
      nonce: nd,
      mac: authProof(key, 'destination', sessionId, helloBody, ns, nd),
    }),
  );
  const proof = decode(Msg.AUTH_PROOF, await next()).mac;
  if (!proofMatches(authProof(key, 'source', sessionId, helloBody, ns, nd), proof)) {
    throw new HandshakeError(ErrorCode.AUTH_FAILED, 'the source does not know the pre-shared key');
  }
}
