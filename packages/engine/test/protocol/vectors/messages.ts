// Golden vectors for every control message (messages.json): hex and decoded fields, made by the engine's codecs.
import { Feature, Intent } from '../../../src/protocol/constants.ts';
import { sealFrame } from '../../../src/protocol/frame-check.ts';
import { FRAME_HEADER_BYTES } from '../../../src/protocol/limits.ts';
import { decode, encode, Msg, type MessageName, type MessageSpec } from '../../../src/protocol/registry.ts';
import { toJson } from './content.ts';

export interface MessageVector {
  readonly name: string;
  readonly section: string;
  readonly message: MessageName;
  /** The protocol version the frame is for: 3 and later seal frames after HELLO_ACCEPT; absent: every version. */
  readonly version?: number;
  /** The engine first speaks this from `requires` on (the test skips it before). */
  readonly requires?: number;
  readonly hex: string;
  readonly fields: unknown;
}

export const SESSION_ID: Uint8Array = Uint8Array.from({ length: 16 }, (_, i) => 0xa0 + i);

export const HELLO_VALUE = {
  versionMin: 1,
  versionMax: 3,
  intent: Intent.MIGRATE,
  sessionId: SESSION_ID,
  pageSize: 4096,
  features: Feature.POSTCOPY | Feature.RESUMABLE,
  guestId: 'vm1',
  regions: [
    { name: 'ram0', sizeBytes: 4 * 4096 },
    { name: 'ram1', sizeBytes: 2 * 4096 },
  ],
};

/** The spec's name of a field where the engine's differs: HELLO_ACCEPT's `acceptedFeatures` is the codec's `features`. */
export function specFields(message: MessageName, fields: unknown): unknown {
  return renamed(message, fields, 'features', 'acceptedFeatures');
}

/** The engine's names back from the spec's (the inverse of `specFields`). */
export function engineFields(message: MessageName, fields: unknown): unknown {
  return renamed(message, fields, 'acceptedFeatures', 'features');
}

/** HELLO_ACCEPT's `fields` with key `from` called `to`, in the same place (wire order). */
function renamed(message: MessageName, fields: unknown, from: string, to: string): unknown {
  if (message !== 'HELLO_ACCEPT' || fields === null || typeof fields !== 'object') return fields;
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k === from ? to : k, v]));
}

/** Frames that precede the checksums whatever the version (§2.1): never sealed. */
const UNSEALED: ReadonlySet<MessageName> = new Set([
  'HELLO',
  'HELLO_ACCEPT',
  'HELLO_REJECT',
  'AUTH_SOURCE',
  'AUTH_CHALLENGE',
  'AUTH_PROOF',
]);

/** Whether a frame of `message` in a session of `version` (absent: every version) carries the CRC-32 trailer. */
export const isSealed = (message: MessageName, version: number | undefined): boolean => (version ?? 1) >= 3 && !UNSEALED.has(message);

function vector<T>(
  name: string,
  section: string,
  m: MessageSpec<T>,
  value: T,
  extra: { version?: number; requires?: number } = {},
): MessageVector {
  const frame = encode(m, value);
  const fields = specFields(m.name, toJson(decode(m, { type: m.type, body: frame.subarray(FRAME_HEADER_BYTES) })));
  if (extra.version !== undefined && isSealed(m.name, extra.version)) {
    const sealed = Buffer.concat([frame, sealFrame(frame)]);
    return { name, section, message: m.name, version: extra.version, hex: sealed.toString('hex'), fields };
  }
  return { name, section, message: m.name, ...extra, hex: frame.toString('hex'), fields };
}

const report = { code: 'FERRY_VERSION_UNSUPPORTED', message: 'no' };

/**
 * HELLO_ACCEPT of version 4 (16-byte body), from the codec; the bytes were first written by hand
 * from the design, and must still be these (docs/protocol.md §3.1.1 prints the first).
 */
export function helloAcceptV4(): MessageVector[] {
  const made = [
    // version 4, reserved, 16 MiB, accepted POSTCOPY (of POSTCOPY|RESUMABLE), encodings RAW ZERO LZ4 XBZRLE DEDUP
    vector(
      'hello-accept-v4',
      '3.1.1',
      Msg.HELLO_ACCEPT,
      { version: 4, maxFrameBodyBytes: 16 * 1024 * 1024, features: 2, encodings: 0x3e },
      {
        version: 4,
        requires: 4,
      },
    ),
    // version 4, 64 KiB frames, nothing accepted, encodings RAW and ZERO only
    vector(
      'hello-accept-v4-no-lz4',
      '3.1.1',
      Msg.HELLO_ACCEPT,
      { version: 4, maxFrameBodyBytes: 65536, features: 0, encodings: 0x06 },
      {
        version: 4,
        requires: 4,
      },
    ),
  ];
  const byHand = ['10000000810000000400000000000001020000003e000000', '100000008100000004000000000001000000000006000000'];
  made.forEach((v, i) => {
    if (v.hex !== byHand[i]) throw new Error(`${v.name}: the codec writes ${v.hex}, the design ${byHand[i]}`);
  });
  return made;
}

export function messageVectors(): MessageVector[] {
  return [
    vector('hello-migrate', '3.1', Msg.HELLO, HELLO_VALUE),
    vector('hello-probe-psk', '3.1', Msg.HELLO, { ...HELLO_VALUE, intent: Intent.PROBE, features: Feature.PSK_AUTH, guestId: '' }),
    vector('hello-recover', '3.1', Msg.HELLO, { ...HELLO_VALUE, intent: Intent.RECOVER }),
    vector('hello-channel', '3.1', Msg.HELLO, { ...HELLO_VALUE, intent: Intent.CHANNEL, features: Feature.CHANNELS }),
    vector('hello-accept-v1', '3.1.1', Msg.HELLO_ACCEPT, { version: 1, maxFrameBodyBytes: 16 * 1024 * 1024 }),
    vector('hello-accept-v2', '3.1.1', Msg.HELLO_ACCEPT, { version: 2, maxFrameBodyBytes: 16 * 1024 * 1024 }),
    vector('hello-accept-v3', '3.1.1', Msg.HELLO_ACCEPT, { version: 3, maxFrameBodyBytes: 16 * 1024 * 1024 }),
    ...helloAcceptV4(),
    vector('hello-reject', '3.3', Msg.HELLO_REJECT, report),
    vector('hello-reject-auth-required', '3.3', Msg.HELLO_REJECT, { code: 'FERRY_AUTH_REQUIRED', message: '' }),
    vector('round-end', '3', Msg.ROUND_END, { round: 0, pages: 3 }),
    vector('round-end-v3', '3', Msg.ROUND_END, { round: 0, pages: 3 }, { version: 3 }),
    vector('round-ack', '3', Msg.ROUND_ACK, { round: 0, pages: 3, bytesReceived: 12_400 }),
    vector('round-ack-v3', '3', Msg.ROUND_ACK, { round: 0, pages: 3, bytesReceived: 12_400 }, { version: 3 }),
    vector('switchover', '3', Msg.SWITCHOVER, { round: 1 }),
    vector('device-state-empty', '3.8', Msg.DEVICE_STATE, { totalBytes: 0, offset: 0, data: new Uint8Array(0) }),
    vector('device-state-chunk', '3.8', Msg.DEVICE_STATE, { totalBytes: 6, offset: 2, data: Uint8Array.of(0xc0, 0xff, 0xee, 0x01) }),
    vector('complete', '3.3', Msg.COMPLETE, { digest: 0x0123456789abcdefn, totalPages: 256, finalRound: 3 }),
    vector('complete-v3-withheld', '4', Msg.COMPLETE, { digest: 0n, totalPages: 6, finalRound: 1 }, { version: 3 }),
    vector('commit', '3', Msg.COMMIT, {}),
    vector('commit-v3', '3', Msg.COMMIT, {}, { version: 3 }),
    vector('abort', '3.3', Msg.ABORT, { code: 'FERRY_ABORTED', message: 'migration cancelled' }),
    vector('failed', '3.3', Msg.FAILED, { code: 'FERRY_DIGEST_MISMATCH', message: 'digest differs' }),
    vector('ready', '4', Msg.READY, { digest: 0x9f3c5e7a12345678n }),
    vector('ready-v3', '4', Msg.READY, { digest: 0x9f3c5e7a12345678n }, { version: 3 }),
    vector('resumed', '3', Msg.RESUMED, { resumeMicros: 1500, verifyMicros: 250 }),
    vector('auth-source', '3.4', Msg.AUTH_SOURCE, { nonce: new Uint8Array(32).fill(0x11) }),
    vector('auth-challenge', '3.4', Msg.AUTH_CHALLENGE, { nonce: new Uint8Array(32).fill(0x22), mac: new Uint8Array(32).fill(0x33) }),
    vector('auth-proof', '3.4', Msg.AUTH_PROOF, { mac: new Uint8Array(32).fill(0x44) }),
    vector('postcopy-enter', '6', Msg.POSTCOPY_ENTER, { round: 2 }),
    vector('postcopy-missing', '6', Msg.POSTCOPY_MISSING, {
      region: 0,
      firstPage: 0,
      pageCount: 300,
      runs: Uint8Array.of(0x00, 0xc8, 0x01, 0x32, 0x01, 0x31),
    }),
    vector('page-request', '6', Msg.PAGE_REQUEST, { region: 1, page: 0x1234, count: 1 }),
    vector('postcopy-done', '6', Msg.POSTCOPY_DONE, { digest: 0x0123456789abcdefn }),
    vector('recover-missing', '6.3', Msg.RECOVER_MISSING, { region: 1, firstPage: 0, pageCount: 2, runs: Uint8Array.of(0x01, 0x01) }),
    vector('recover-end', '6.3', Msg.RECOVER_END, { missingPages: 1 }),
    vector('probe-data', '3.6', Msg.PROBE_DATA, Uint8Array.of(1, 2, 3, 4)),
    vector('probe-end', '3.6', Msg.PROBE_END, { bytes: 4 }),
    vector('probe-ack', '3.6', Msg.PROBE_ACK, { bytes: 4 }),
    vector('echo', '3.7', Msg.ECHO, { token: 7n }),
    vector('echo-v3', '2.1', Msg.ECHO, { token: 7n }, { version: 3 }),
    vector('echo-reply', '3.7', Msg.ECHO_REPLY, { token: 7n }),
  ];
}
