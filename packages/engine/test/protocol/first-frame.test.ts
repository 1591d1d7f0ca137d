import { describe, expect, it } from 'vitest';
import { MessageType } from '../../src/index.ts';
import { encodeFrame } from '../../src/protocol/frame.ts';
import { FrameReader } from '../../src/protocol/frame-reader.ts';
import { MAX_HELLO_BODY_BYTES } from '../../src/protocol/limits.ts';
import * as msg from '../../src/protocol/messages.ts';

function failure(reader: FrameReader, chunks: Uint8Array[]): { code: string; message: string } {
  try {
    for (const c of chunks) reader.push(c);
  } catch (err) {
    return err as { code: string; message: string };
  }
  throw new Error('no failure');
}

describe("a connection's first frame", () => {
  it('says the peer does not speak Ferry when an HTTP request arrives, with its first bytes as text and hex', () => {
    const err = failure(new FrameReader(MAX_HELLO_BODY_BYTES), [Buffer.from('GET / HTTP/1.1\r\nHost: ferry\r\n\r\n')]);
    expect(err).toMatchObject({
      code: 'FERRY_UNKNOWN_MESSAGE',
      message:
        'the peer does not speak Ferry: its first bytes are "GET / HTTP/1.1\\r\\n" (47 45 54 20 2f 20 48 54 54 50 2f 31 2e 31 0d 0a): an HTTP request',
    });
  });

  it('says so for a header that arrives a byte at a time, showing the header it has', () => {
    const bytes = Buffer.from('POST /x HTTP/1.1');
    const err = failure(
      new FrameReader(MAX_HELLO_BODY_BYTES),
      Array.from(bytes, (b) => Uint8Array.of(b)),
    );
    expect(err).toMatchObject({
      code: 'FERRY_UNKNOWN_MESSAGE',
      message: 'the peer does not speak Ferry: its first bytes are "POST /x " (50 4f 53 54 20 2f 78 20): an HTTP request',
    });
  });

  it('recognises a TLS ClientHello even where its length byte falls on a known type', () => {
    // Record header 16 03 01, length 0x0201 (its low byte 0x01 is HELLO's type), then handshake type 1 (flags: non-zero).
    const hello = Uint8Array.of(0x16, 0x03, 0x01, 0x02, 0x01, 0x01, 0x00, 0x01, 0xfd, 0x03, 0x03);
    const err = failure(new FrameReader(MAX_HELLO_BODY_BYTES), [hello]);
    expect(err.code).toBe('FERRY_UNKNOWN_MESSAGE');
    expect(err.message).toBe(
      'the peer does not speak Ferry: its first bytes are "\\x16\\x03\\x01\\x02\\x01\\x01\\x00\\x01\\xfd\\x03\\x03" ' +
        '(16 03 01 02 01 01 00 01 fd 03 03): a TLS handshake (is tls given to one side only?)',
    );
  });

  it('keeps other faults of a Ferry-looking first header as they were', () => {
    const tooLarge = Uint8Array.of(0xff, 0xff, 0xff, 0x7f, MessageType.HELLO, 0, 0, 0);
    expect(failure(new FrameReader(MAX_HELLO_BODY_BYTES), [tooLarge]).code).toBe('FERRY_FRAME_TOO_LARGE');
    const flagged = Uint8Array.of(0, 0, 0, 0, MessageType.COMMIT, 2, 0, 0);
    expect(failure(new FrameReader(MAX_HELLO_BODY_BYTES), [flagged]).code).toBe('FERRY_FRAME_MALFORMED');
  });

  it('reports an unknown type after a valid first frame as before', () => {
    const reader = new FrameReader(MAX_HELLO_BODY_BYTES);
    const commit = encodeFrame(MessageType.COMMIT, msg.empty, {});
    expect(reader.push(commit)).toHaveLength(1);
    const err = failure(reader, [Buffer.from('GET / HTTP/1.1\r\n')]);
    expect(err).toMatchObject({ code: 'FERRY_UNKNOWN_MESSAGE', message: 'unknown message type 0x2f' });
  });
});
