import { ErrorCode, ProtocolError } from '../errors.ts';
import { Intent, MAGIC } from './constants.ts';
import { type Cursor, string16Bytes } from './cursor.ts';
import {
  AUTH_MAC_BYTES,
  AUTH_NONCE_BYTES,
  MAX_ERROR_CODE_BYTES,
  MAX_ERROR_MESSAGE_BYTES,
  MAX_GUEST_ID_BYTES,
  MAX_MISSING_PAGES_PER_MESSAGE,
  MAX_PAGES_PER_REQUEST,
  MAX_REGION_NAME_BYTES,
  MAX_REGIONS,
} from './limits.ts';

/**
 * The control messages of protocol v1, each one small codec object in the compact-encoding
 * style: `preencode` gives the body size, `encode` writes it, `decode` reads it back or throws
 * a ProtocolError. PAGES, the one hot message, lives in pages.ts.
 */
export interface MessageCodec<T> {
  preencode(msg: T): number;
  encode(msg: T, c: Cursor): void;
  decode(c: Cursor): T;
}

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
  /** Feature bits; none are defined in v1 and a v1 peer sends 0. */
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
  /** Largest frame body the destination accepts from now on. */
  readonly maxFrameBodyBytes: number;
}

export const helloAccept: MessageCodec<HelloAccept> = {
  preencode: () => 8,
  encode(m, c) {
    c.setU16(m.version);
    c.setU16(0);
    c.setU32(m.maxFrameBodyBytes);
  },
  decode(c) {
    const version = c.u16();
    c.zero(2, 'accept reserved');
    const maxFrameBodyBytes = c.u32();
    c.done('HELLO_ACCEPT');
    return { version, maxFrameBodyBytes };
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

export interface RoundEnd {
  readonly round: number;
  /** Pages the source sent in this round. */
  readonly pages: number;
}

export const roundEnd: MessageCodec<RoundEnd> = {
  preencode: () => 8,
  encode(m, c) {
    c.setU32(m.round);
    c.setU32(m.pages);
  },
  decode(c) {
    const round = c.u32();
    const pages = c.u32();
    c.done('ROUND_END');
    return { round, pages };
  },
};

export interface RoundAck {
  readonly round: number;
  /** Pages the destination received in this round, so the source can check nothing went missing. */
  readonly pages: number;
  /** Frame bytes the destination has received since the handshake. */
  readonly bytesReceived: number;
}

export const roundAck: MessageCodec<RoundAck> = {
  preencode: () => 16,
  encode(m, c) {
    c.setU32(m.round);
    c.setU32(m.pages);
    c.setU64(m.bytesReceived);
  },
  decode(c) {
    const round = c.u32();
    const pages = c.u32();
    const bytesReceived = c.u53('bytes received');
    c.done('ROUND_ACK');
    return { round, pages, bytesReceived };
  },
};

export interface Switchover {
  /** The final round's number: the guest is paused and this round sends all that is left. */
  readonly round: number;
}

export const switchover: MessageCodec<Switchover> = {
  preencode: () => 4,
  encode(m, c) {
    c.setU32(m.round);
  },
  decode(c) {
    const round = c.u32();
    c.done('SWITCHOVER');
    return { round };
  },
};

export interface DeviceStateChunk {
  /** Size of the whole device state blob. */
  readonly totalBytes: number;
  /** Where this chunk starts in the blob; chunks arrive in order. */
  readonly offset: number;
  readonly data: Uint8Array;
}

export const deviceState: MessageCodec<DeviceStateChunk> = {
  preencode: (m) => 16 + m.data.byteLength,
  encode(m, c) {
    c.setU64(m.totalBytes);
    c.setU64(m.offset);
    c.setRaw(m.data);
  },
  decode(c) {
    const totalBytes = c.u53('device state size');
    const offset = c.u53('device state offset');
    const data = c.raw(c.remaining, 'device state');
    if (offset + data.byteLength > totalBytes) {
      throw new ProtocolError(ErrorCode.FRAME_MALFORMED, 'device state chunk runs past the declared size');
    }
    return { totalBytes, offset, data };
  },
};

export interface Complete {
  /** xxh64 over the u64-LE hashes of every page of every region, in order (docs/protocol.md). */
  readonly digest: bigint;
  readonly totalPages: number;
  readonly finalRound: number;
}

export const complete: MessageCodec<Complete> = {
  preencode: () => 20,
  encode(m, c) {
    c.setU64(m.digest);
    c.setU64(m.totalPages);
    c.setU32(m.finalRound);
  },
  decode(c) {
    const digest = c.u64();
    const totalPages = c.u53('total pages');
    const finalRound = c.u32();
    c.done('COMPLETE');
    return { digest, totalPages, finalRound };
  },
};

export interface Ready {
  /** The digest the destination computed over its own memory; equal to COMPLETE's. */
  readonly digest: bigint;
}

export const ready: MessageCodec<Ready> = {
  preencode: () => 8,
  encode(m, c) {
    c.setU64(m.digest);
  },
  decode(c) {
    const digest = c.u64();
    c.done('READY');
    return { digest };
  },
};

export interface Resumed {
  /** Time the destination's resume hook took, in microseconds. */
  readonly resumeMicros: number;
  /** Time from COMPLETE received to READY sent (digest and device state load), in microseconds. */
  readonly verifyMicros: number;
}

export const resumed: MessageCodec<Resumed> = {
  preencode: () => 8,
  encode(m, c) {
    c.setU32(Math.min(0xffff_ffff, Math.round(m.resumeMicros)));
    c.setU32(Math.min(0xffff_ffff, Math.round(m.verifyMicros)));
  },
  decode(c) {
    const resumeMicros = c.u32();
    const verifyMicros = c.u32();
    c.done('RESUMED');
    return { resumeMicros, verifyMicros };
  },
};

/** A message with no body (COMMIT). */
export const empty: MessageCodec<Record<string, never>> = {
  preencode: () => 0,
  encode() {},
  decode(c) {
    c.done('empty message');
    return {};
  },
};

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

export interface PostcopyEnter {
  /** The round the post-copy pages are sent in; the guest is paused. */
  readonly round: number;
}

export const postcopyEnter: MessageCodec<PostcopyEnter> = {
  preencode: () => 4,
  encode(m, c) {
    c.setU32(m.round);
  },
  decode(c) {
    const round = c.u32();
    c.done('POSTCOPY_ENTER');
    return { round };
  },
};

export interface PostcopyMissing {
  readonly region: number;
  /** The first page the runs describe. */
  readonly firstPage: number;
  /** How many pages the runs describe (1 .. 2^20). */
  readonly pageCount: number;
  /** Run-length form (DirtyBitmap.toRuns) of `pageCount` bits: set = the page is missing at the destination. */
  readonly runs: Uint8Array;
}

export const postcopyMissing: MessageCodec<PostcopyMissing> = {
  preencode: (m) => 12 + m.runs.byteLength,
  encode(m, c) {
    c.setU16(m.region);
    c.setU16(0);
    c.setU32(m.firstPage);
    c.setU32(m.pageCount);
    c.setRaw(m.runs);
  },
  decode(c) {
    const region = c.u16();
    c.zero(2, 'POSTCOPY_MISSING reserved');
    const firstPage = c.u32();
    const pageCount = c.u32();
    if (pageCount === 0 || pageCount > MAX_MISSING_PAGES_PER_MESSAGE) {
      throw new ProtocolError(
        ErrorCode.FRAME_MALFORMED,
        `POSTCOPY_MISSING covers ${pageCount} pages (1..${MAX_MISSING_PAGES_PER_MESSAGE})`,
      );
    }
    const runs = c.raw(c.remaining, 'missing-page runs');
    return { region, firstPage, pageCount, runs };
  },
};

export interface PageRequest {
  readonly region: number;
  readonly page: number;
  /** Pages from `page` on (1 .. 1024). */
  readonly count: number;
}

export const pageRequest: MessageCodec<PageRequest> = {
  preencode: () => 12,
  encode(m, c) {
    c.setU16(m.region);
    c.setU16(0);
    c.setU32(m.page);
    c.setU32(m.count);
  },
  decode(c) {
    const region = c.u16();
    c.zero(2, 'PAGE_REQUEST reserved');
    const page = c.u32();
    const count = c.u32();
    c.done('PAGE_REQUEST');
    if (count === 0 || count > MAX_PAGES_PER_REQUEST) {
      throw new ProtocolError(ErrorCode.FRAME_MALFORMED, `PAGE_REQUEST for ${count} pages (1..${MAX_PAGES_PER_REQUEST})`);
    }
    return { region, page, count };
  },
};

export interface PostcopyDone {
  /** The digest of the memory as received (protocol §4), equal to COMPLETE's. */
  readonly digest: bigint;
}

export const postcopyDone: MessageCodec<PostcopyDone> = {
  preencode: () => 8,
  encode(m, c) {
    c.setU64(m.digest);
  },
  decode(c) {
    const digest = c.u64();
    c.done('POSTCOPY_DONE');
    return { digest };
  },
};

export interface RecoverEnd {
  /** Pages the destination still lacks, over all RECOVER_MISSING messages (a check). */
  readonly missingPages: number;
}

export const recoverEnd: MessageCodec<RecoverEnd> = {
  preencode: () => 8,
  encode(m, c) {
    c.setU64(m.missingPages);
  },
  decode(c) {
    const missingPages = c.u53('missing pages');
    c.done('RECOVER_END');
    return { missingPages };
  },
};

/** PROBE_END (bytes the source sent) and PROBE_ACK (bytes the destination received). */
export interface ProbeCount {
  readonly bytes: number;
}

export const probeCount: MessageCodec<ProbeCount> = {
  preencode: () => 8,
  encode(m, c) {
    c.setU64(m.bytes);
  },
  decode(c) {
    const bytes = c.u53('probe bytes');
    c.done('PROBE_END/PROBE_ACK');
    return { bytes };
  },
};

/** ECHO and ECHO_REPLY: a token the destination sends back unchanged. */
export interface Echo {
  readonly token: bigint;
}

export const echo: MessageCodec<Echo> = {
  preencode: () => 8,
  encode(m, c) {
    c.setU64(m.token);
  },
  decode(c) {
    const token = c.u64();
    c.done('ECHO/ECHO_REPLY');
    return { token };
  },
};
