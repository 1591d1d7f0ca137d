// Invalid frames and bodies (invalid.json): hex, what reads it, and the error code it must give.
import { sealFrame } from '../../../src/protocol/frame-check.ts';
import { encode, Msg, type MessageName } from '../../../src/protocol/registry.ts';
import { HELLO_VALUE } from './messages.ts';

/**
 * How a vector is read:
 * - `frame`: as a stream by a frame reader with `maxBodyBytes` and `checks` (`off`: versions 1 and 2,
 *   `required`: after HELLO_ACCEPT in a version 3 session) — the error comes from the header or trailer;
 * - `message`: one whole frame whose body is decoded as `message`;
 * - `hello-accept`: HELLO_ACCEPT read by a source that sent `helloFeatures` (version 4 rules).
 */
export interface InvalidVector {
  readonly name: string;
  readonly section: string;
  readonly check: 'frame' | 'message' | 'hello-accept';
  readonly message?: MessageName;
  readonly maxBodyBytes?: number;
  readonly checks?: 'off' | 'required';
  readonly helloFeatures?: number;
  readonly version?: number;
  readonly requires?: number;
  readonly hex: string;
  readonly error: string;
}

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const sealed = (frame: Buffer): Buffer => Buffer.concat([frame, sealFrame(frame)]);

export function invalidVectors(): InvalidVector[] {
  const hello = encode(Msg.HELLO, HELLO_VALUE);
  const helloWith = (at: number, byte: number): string => {
    const b = Buffer.from(hello);
    b[at] = byte;
    return hex(b);
  };
  const echo = encode(Msg.ECHO, { token: 7n });
  const ack = sealed(encode(Msg.ROUND_ACK, { round: 0, pages: 3, bytesReceived: 12_400 }));
  const flipped = Buffer.from(ack);
  flipped[12]! ^= 0x01;
  const frame = (name: string, section: string, h: string, error: string, o: Partial<InvalidVector> = {}): InvalidVector => ({
    name,
    section,
    check: 'frame',
    maxBodyBytes: 65536,
    checks: 'off',
    ...o,
    hex: h,
    error,
  });
  const body = (
    name: string,
    section: string,
    message: MessageName,
    h: string,
    error: string,
    o: Partial<InvalidVector> = {},
  ): InvalidVector => ({
    name,
    section,
    check: 'message',
    message,
    ...o,
    hex: h,
    error,
  });
  const accept = (name: string, h: string, helloFeatures: number): InvalidVector => ({
    name,
    section: '3.1.1',
    check: 'hello-accept',
    helloFeatures,
    version: 4,
    requires: 4,
    hex: h,
    error: 'FERRY_FRAME_MALFORMED',
  });
  return [
    frame('unknown-type-0', '2', '0000000000000000', 'FERRY_UNKNOWN_MESSAGE'),
    frame('unknown-type-0x10', '3', '0000000010000000', 'FERRY_UNKNOWN_MESSAGE'),
    frame('unknown-type-0x8e', '3', '000000008e000000', 'FERRY_UNKNOWN_MESSAGE'),
    frame('reserved-flag-bit', '2', `${hex(echo.subarray(0, 5))}02${hex(echo.subarray(6))}`, 'FERRY_FRAME_MALFORMED'),
    frame('reserved-header-non-zero', '2', `${hex(echo.subarray(0, 6))}0100${hex(echo.subarray(8))}`, 'FERRY_FRAME_MALFORMED'),
    frame('oversized-length-before-handshake', '2', '010001000f000000', 'FERRY_FRAME_TOO_LARGE'),
    frame('checked-frame-in-v2', '2.1', hex(sealed(encode(Msg.ECHO, { token: 7n }))), 'FERRY_FRAME_MALFORMED', { version: 2 }),
    frame('unchecked-frame-in-v3', '2.1', hex(echo), 'FERRY_FRAME_MALFORMED', { version: 3, checks: 'required' }),
    frame('bad-crc-in-v3', '2.1', hex(flipped), 'FERRY_CHECKSUM_MISMATCH', { version: 3, checks: 'required' }),
    body('bad-magic', '3.1', 'HELLO', helloWith(8, 0x47), 'FERRY_BAD_MAGIC'),
    body('hello-unknown-intent', '3.1', 'HELLO', helloWith(8 + 12, 5), 'FERRY_FRAME_MALFORMED'),
    body('hello-reserved-non-zero', '3.1', 'HELLO', helloWith(8 + 13, 1), 'FERRY_FRAME_MALFORMED'),
    body('hello-truncated', '3.1', 'HELLO', truncatedHello(hello), 'FERRY_FRAME_TRUNCATED'),
    body(
      'hello-zero-regions',
      '3.1',
      'HELLO',
      `${hex(hello.subarray(0, 8 + 8 + 4 + 4 + 16 + 8 + 5)).replace(/^[0-9a-f]{8}/, '2f000000')}0000`,
      'FERRY_FRAME_MALFORMED',
    ),
    body('round-ack-truncated', '3', 'ROUND_ACK', '0c00000083000000000000000300000030300000', 'FERRY_FRAME_TRUNCATED'),
    body('echo-trailing-bytes', '3.7', 'ECHO', '090000000f000000070000000000000000', 'FERRY_FRAME_MALFORMED'),
    body('commit-with-body', '3', 'COMMIT', '010000000700000000', 'FERRY_FRAME_MALFORMED'),
    body('hello-accept-reserved-non-zero', '3.1.1', 'HELLO_ACCEPT', '08000000810000000100010000000001', 'FERRY_FRAME_MALFORMED'),
    body(
      'hello-accept-v3-with-16-bytes',
      '3.1.1',
      'HELLO_ACCEPT',
      ['10000000', '81000000', '0300', '0000', '00000001', '00000000', '00000000'].join(''),
      'FERRY_FRAME_MALFORMED',
    ),
    body(
      'device-state-past-total',
      '3.8',
      'DEVICE_STATE',
      '130000000500000004000000000000000200000000000000c0ffee',
      'FERRY_FRAME_MALFORMED',
    ),
    body('error-report-code-too-long', '3.3', 'FAILED', `4500000086000000${'4100'}${'46'.repeat(65)}0000`, 'FERRY_FRAME_MALFORMED'),
    body('error-report-bad-utf8', '3.3', 'FAILED', '050000008600000001 00ff0000'.replace(/ /g, ''), 'FERRY_FRAME_MALFORMED'),
    body('page-request-count-0', '6', 'PAGE_REQUEST', '0c000000880000000000000034120000' + '00000000', 'FERRY_FRAME_MALFORMED'),
    body('page-request-count-1025', '6', 'PAGE_REQUEST', '0c000000880000000000000034120000' + '01040000', 'FERRY_FRAME_MALFORMED'),
    accept('hello-accept-v4-feature-not-offered', '10000000810000000400000000000001080000003e000000', HELLO_VALUE.features),
    accept('hello-accept-v4-without-raw', '10000000810000000400000000000001000000003c000000', HELLO_VALUE.features),
    accept('hello-accept-v4-unknown-encoding', '10000000810000000400000000000001000000007e000000', HELLO_VALUE.features),
    { ...accept('hello-accept-v4-short', '08000000810000000400000000000001', HELLO_VALUE.features), error: 'FERRY_FRAME_TRUNCATED' },
    // All versions: a destination's limit below max(65536, pageSize + 4096) is refused by the source.
    { ...accept('hello-accept-frame-limit-too-small', '080000008100000003000000ffff0000', HELLO_VALUE.features), version: 3 },
  ];
}

/** HELLO with its last byte cut off and its length field saying so. */
function truncatedHello(hello: Buffer): string {
  const b = Buffer.from(hello.subarray(0, hello.byteLength - 1));
  b.writeUInt32LE(b.byteLength - 8, 0);
  return hex(b);
}
