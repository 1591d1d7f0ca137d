/**
 * The control messages of the protocol (versions 1 and 2), each one small codec object in the compact-encoding
 * style: `preencode` gives the body size, `encode` writes it, `decode` reads it back or throws
 * a ProtocolError. PAGES, the one hot message, lives in pages.ts.
 *
 * This is the one module callers import (`import * as msg from '../protocol/messages.ts'`); the
 * codecs live by family: handshake-messages.ts, round-messages.ts, postcopy-messages.ts,
 * probe-messages.ts, and the shared MessageCodec shape in message-codec.ts.
 */
export * from './message-codec.ts';
export * from './handshake-messages.ts';
export * from './round-messages.ts';
export * from './postcopy-messages.ts';
export * from './probe-messages.ts';
