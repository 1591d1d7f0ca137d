// The messages that open a connection: HELLO, HELLO_ACCEPT, the error report, and the PSK proofs (AUTH_*).
import { ErrorCode, ProtocolError } from '../errors.ts';
import { ALL_ENCODINGS, Intent, MAGIC, NEGOTIATION_MIN_VERSION, REQUIRED_ENCODINGS } from './constants.ts';
import { string16Bytes } from './cursor.ts';
import {
  AUTH_MAC_BYTES,
  AUTH_NONCE_BYTES,
  MAX_ERROR_CODE_BYTES,
  MAX_ERROR_MESSAGE_BYTES,
  MAX_GUEST_ID_BYTES,
  MAX_REGION_NAME_BYTES,
  MAX_REGIONS,
} from './limits.ts';
import type { MessageCodec } from './message-codec.ts';

export interface RegionDescriptor {
  /** Stable name, e.g. "ram0"; source and destination match regions by index and name. */
  readonly name: string;
  readonly sizeBytes: number;
}

export interface Hello {
  readonly versionMin: number;
  readonly versionMax: number;
  readonly intent: Intent;
  /** 16 random bytes naming this migration; both sides log it. */
  readonly sessionId: Uint8Array;
  readonly pageSize: number;
  /** Feature bits (`Feature`): PSK_AUTH, POSTCOPY, RESUMABLE, CHANNELS; a destination refuses bits it does not know. */
  readonly features: number;
  /** The control plane's name for the guest. */
  readonly guestId: string;
  readonly regions: readonly RegionDescriptor[];
}

export const hello: MessageCodec<Hello> = {
  preencode(m) {
    let n = MAGIC.byteLength + 2 + 2 + 1 + 3 + 16 + 4 + 4 + string16Bytes(m.guestId) + 2;
    for (const r of m.regions) n += string16Bytes(r.name) + 8;
    return n;
  },
  encode(m, c) {
    c.setRaw(MAGIC);
    c.setU16(m.versionMin);
    c.setU16(m.versionMax);
    c.setU8(m.intent);
    c.setU8(0);
    c.setU16(0);
    c.setRaw(m.sessionId);
    c.setU32(m.pageSize);
    c.setU32(m.features);
    c.setString16(m.guestId);
    c.setU16(m.regions.length);
    for (const r of m.regions) {
      c.setString16(r.name);
      c.setU64(r.sizeBytes);
    }
  },
  decode(c) {
    const magic = c.raw(MAGIC.byteLength, 'magic');
    if (!magic.every((b, i) => b === MAGIC[i])) {
      throw new ProtocolError(ErrorCode.BAD_MAGIC, 'peer is not speaking the Ferry protocol (bad magic)');
    }
    const versionMin = c.u16();
    const versionMax = c.u16();
    const intent = c.u8();
    if (intent !== Intent.MIGRATE && intent !== Intent.PROBE && intent !== Intent.RECOVER && intent !== Intent.CHANNEL) {
      throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `unknown intent ${intent}`);
    }
    c.zero(1, 'hello reserved');
    c.zero(2, 'hello reserved');
    const sessionId = new Uint8Array(c.raw(16, 'session id'));
    const pageSize = c.u32();
    const features = c.u32();
    const guestId = c.string16(MAX_GUEST_ID_BYTES, 'guest id');
    const regionCount = c.u16();
    if (regionCount === 0 || regionCount > MAX_REGIONS) {
      throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `region count ${regionCount} outside 1..${MAX_REGIONS}`);
    }
    const regions: RegionDescriptor[] = [];
    for (let i = 0; i < regionCount; i++) {
      const name = c.string16(MAX_REGION_NAME_BYTES, 'region name');
      const sizeBytes = c.u53('region size');
      regions.push({ name, sizeBytes });
    }
    c.done('HELLO');
    return { versionMin, versionMax, intent, sessionId, pageSize, features, guestId, regions };
  },
};

export interface HelloAccept {
  /** The version both sides now speak. */
  readonly version: number;
  /** Largest frame body the destination accepts from now on; the source MUST NOT send a larger one. */
  readonly maxFrameBodyBytes: number;
  /**
   * Version 4 on: the HELLO's feature bits the destination accepts (a subset; PSK_AUTH as in the
   * HELLO). Absent before version 4, where every feature of an accepted HELLO is accepted.
   */
  readonly features?: number;
  /**
   * Version 4 on: the page encodings the destination decodes, bit `1 << encoding` each (RAW and
   * ZERO always). Absent before version 4, where every encoding is decoded.
   */
  readonly encodings?: number;
}

/** HELLO_ACCEPT: 8 bytes up to version 3; 16 from version 4, whose layout the first field, the version, announces. */
export const helloAccept: MessageCodec<HelloAccept> = {
  preencode: (m) => (m.version >= NEGOTIATION_MIN_VERSION ? 16 : 8),
  encode(m, c) {
    c.setU16(m.version);
    c.setU16(0);
    c.setU32(m.maxFrameBodyBytes);
    if (m.version >= NEGOTIATION_MIN_VERSION) {
      c.setU32(m.features ?? 0);
      c.setU32(m.encodings ?? ALL_ENCODINGS);
    }
  },
  decode(c) {
    const version = c.u16();
    c.zero(2, 'accept reserved');
    const maxFrameBodyBytes = c.u32();
    if (version < NEGOTIATION_MIN_VERSION) {
      c.done('HELLO_ACCEPT');
      return { version, maxFrameBodyBytes };
    }
    const features = c.u32();
    const encodings = c.u32();
    c.done('HELLO_ACCEPT');
    if ((encodings & REQUIRED_ENCODINGS) !== REQUIRED_ENCODINGS || (encodings & ~ALL_ENCODINGS) !== 0) {
      throw new ProtocolError(
        ErrorCode.FRAME_MALFORMED,
        `HELLO_ACCEPT encodings 0x${encodings.toString(16)}: RAW and ZERO (0x${REQUIRED_ENCODINGS.toString(16)}) must be set, nothing outside 0x${ALL_ENCODINGS.toString(16)}`,
      );
    }
    return { version, maxFrameBodyBytes, features, encodings };
  },
};

/** A typed refusal or failure: a stable error code and a human-readable reason. */
export interface ErrorReport {
  readonly code: string;
  readonly message: string;
}

export const errorReport: MessageCodec<ErrorReport> = {
  preencode: (m) => string16Bytes(m.code) + string16Bytes(truncate(m.message)),
  encode(m, c) {
    c.setString16(m.code);
    c.setString16(truncate(m.message));
  },
  decode(c) {
    const code = c.string16(MAX_ERROR_CODE_BYTES, 'error code');
    const message = c.string16(MAX_ERROR_MESSAGE_BYTES, 'error message');
    c.done('error report');
    return { code, message };
  },
};

function truncate(message: string): string {
  // Cut by characters until the UTF-8 form fits; messages are short, so this rarely loops.
  let m = message;
  while (Buffer.byteLength(m, 'utf8') > MAX_ERROR_MESSAGE_BYTES) m = m.slice(0, m.length - 16);
  return m;
}

/** AUTH_SOURCE: the source's nonce, sent right after a HELLO with the PSK_AUTH feature. */
export interface AuthSource {
  readonly nonce: Uint8Array;
}

export const authSource: MessageCodec<AuthSource> = {
  preencode: () => AUTH_NONCE_BYTES,
  encode(m, c) {
    c.setRaw(m.nonce);
  },
  decode(c) {
    const nonce = new Uint8Array(c.raw(AUTH_NONCE_BYTES, 'source nonce'));
    c.done('AUTH_SOURCE');
    return { nonce };
  },
};

/** AUTH_CHALLENGE: the destination's nonce and its proof of the key over both nonces. */
export interface AuthChallenge {
  readonly nonce: Uint8Array;
  readonly mac: Uint8Array;
}

export const authChallenge: MessageCodec<AuthChallenge> = {
  preencode: () => AUTH_NONCE_BYTES + AUTH_MAC_BYTES,
  encode(m, c) {
    c.setRaw(m.nonce);
    c.setRaw(m.mac);
  },
  decode(c) {
    const nonce = new Uint8Array(c.raw(AUTH_NONCE_BYTES, 'destination nonce'));
    const mac = new Uint8Array(c.raw(AUTH_MAC_BYTES, 'destination proof'));
    c.done('AUTH_CHALLENGE');
    return { nonce, mac };
  },
};

/** AUTH_PROOF: the source's proof of the key over both nonces. */
export interface AuthProof {
  readonly mac: Uint8Array;
}

export const authProof: MessageCodec<AuthProof> = {
  preencode: () => AUTH_MAC_BYTES,
  encode(m, c) {
    c.setRaw(m.mac);
  },
  decode(c) {
    const mac = new Uint8Array(c.raw(AUTH_MAC_BYTES, 'source proof'));
    c.done('AUTH_PROOF');
    return { mac };
  },
};
