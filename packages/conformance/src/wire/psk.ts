import { createHash, createHmac } from 'node:crypto';

/** The PSK proofs of §3.4: HMAC-SHA-256(K, label ‖ sessionId ‖ SHA-256(HELLO body) ‖ Ns ‖ Nd). */
export function pskProof(
  key: Uint8Array,
  side: 'source' | 'destination',
  sessionId: Uint8Array,
  helloBody: Uint8Array,
  ns: Uint8Array,
  nd: Uint8Array,
): Buffer {
  return createHmac('sha256', key)
    .update(`ferry/1 ${side}`)
    .update(sessionId)
    .update(createHash('sha256').update(helloBody).digest())
    .update(ns)
    .update(nd)
    .digest();
}
