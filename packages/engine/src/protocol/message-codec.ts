// The codec shape every control message shares (MessageCodec), and the codec of a message with no body.
import type { Cursor } from './cursor.ts';

/**
 * One control message's body, in the compact-encoding style: `preencode` gives the body size,
 * `encode` writes it, `decode` reads it back or throws a ProtocolError.
 */
export interface MessageCodec<T> {
  preencode(msg: T): number;
  encode(msg: T, c: Cursor): void;
  decode(c: Cursor): T;
}

/** A message with no body (COMMIT). */
export const empty: MessageCodec<Record<string, never>> = {
  preencode: () => 0,
  encode() {},
  decode(c) {
    c.done('empty message');
    return {};
  },
};
