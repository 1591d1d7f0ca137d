/**
 * Protocol constants (versions 1 to 4). Normative definitions are in docs/protocol.md; value 0 is reserved as
 * invalid in every enumeration so that a zeroed buffer never decodes as a valid message.
 */

/** First eight bytes of every HELLO body: "FERRY", CR, LF, 0x1A (catches text-mode mangling). */
export const MAGIC: Uint8Array = Uint8Array.of(0x46, 0x45, 0x52, 0x52, 0x59, 0x0d, 0x0a, 0x1a);

/**
 * Version 2 adds ECHO / ECHO_REPLY (§3.7); version 3 a checksum on every frame after HELLO_ACCEPT
 * (§2.1); version 4 the negotiation of features and page encodings in HELLO_ACCEPT (§3.1.1) and
 * checked round numbers (§5.2).
 */
export const PROTOCOL_VERSION = 4 as const;
export const MIN_PROTOCOL_VERSION = 1 as const;
/**
 * From version 3 the source withholds its digest (COMPLETE carries 0): the destination must
 * compute its own from the pages it verified and send it in READY (or POSTCOPY_DONE), so one
 * that never received the memory cannot pass by echoing the source's (docs/protocol.md §4).
 */
export const DIGEST_WITHHELD_MIN_VERSION = 3 as const;
/**
 * From version 4 HELLO_ACCEPT says which of the HELLO's features the destination accepts and which
 * page encodings it decodes (a destination may take a subset; the source adapts), and the
 * destination checks round numbers and requires the final round's ROUND_END.
 */
export const NEGOTIATION_MIN_VERSION = 4 as const;
/** The first version in which ECHO may be sent. */
export const ECHO_MIN_VERSION = 2 as const;

export const MessageType = {
  // source -> destination
  HELLO: 0x01,
  PAGES: 0x02,
  ROUND_END: 0x03,
  SWITCHOVER: 0x04,
  DEVICE_STATE: 0x05,
  COMPLETE: 0x06,
  COMMIT: 0x07,
  ABORT: 0x08,
  AUTH_SOURCE: 0x09,
  AUTH_PROOF: 0x0a,
  POSTCOPY_ENTER: 0x0b,
  POSTCOPY_MISSING: 0x0c,
  PROBE_DATA: 0x0d,
  PROBE_END: 0x0e,
  /** u64 token: asks for an ECHO_REPLY at once (measures the round trip between the engines). */
  ECHO: 0x0f,
  // destination -> source (the return path)
  HELLO_ACCEPT: 0x81,
  HELLO_REJECT: 0x82,
  ROUND_ACK: 0x83,
  READY: 0x84,
  RESUMED: 0x85,
  FAILED: 0x86,
  AUTH_CHALLENGE: 0x87,
  PAGE_REQUEST: 0x88,
  POSTCOPY_DONE: 0x89,
  RECOVER_MISSING: 0x8a,
  RECOVER_END: 0x8b,
  PROBE_ACK: 0x8c,
  ECHO_REPLY: 0x8d,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

const messageNames = new Map<number, string>(Object.entries(MessageType).map(([k, v]) => [v, k]));
export function messageName(type: number): string {
  return messageNames.get(type) ?? `0x${type.toString(16).padStart(2, '0')}`;
}
export function isMessageType(type: number): type is MessageType {
  return messageNames.has(type);
}

/** How one page is carried in a PAGES batch. */
export const PageEncoding = {
  /** pageSize bytes of page content. */
  RAW: 0x01,
  /** No payload: the page is all zero bytes. */
  ZERO: 0x02,
  /** u32 decoded size (= page size) then an LZ4 block: the lz4-napi / lz4_flex size-prepended format. */
  LZ4: 0x03,
  /** A QEMU-format XBZRLE delta against the copy of this page the destination holds; empty: unchanged. */
  XBZRLE: 0x04,
  /** u16 region, u16 reserved, u32 page: same content as that page as the destination holds it. */
  DEDUP: 0x05,
} as const;
export type PageEncoding = (typeof PageEncoding)[keyof typeof PageEncoding];

/** The bit of `encoding` in HELLO_ACCEPT's `encodings` (version 4): 1 << encoding. */
export function encodingBit(encoding: PageEncoding): number {
  return 1 << encoding;
}
/** Every page encoding this implementation decodes, as HELLO_ACCEPT's `encodings` bits. */
export const ALL_ENCODINGS: number =
  encodingBit(PageEncoding.RAW) |
  encodingBit(PageEncoding.ZERO) |
  encodingBit(PageEncoding.LZ4) |
  encodingBit(PageEncoding.XBZRLE) |
  encodingBit(PageEncoding.DEDUP);
/** The encodings every destination decodes: RAW and ZERO (their bits MUST be set). */
export const REQUIRED_ENCODINGS: number = encodingBit(PageEncoding.RAW) | encodingBit(PageEncoding.ZERO);

/** Why a HELLO carries this session: a real migration or a compatibility dry run. */
export const Intent = {
  MIGRATE: 0x01,
  PROBE: 0x02,
  /** Reconnect an interrupted session (same sessionId): post-copy, or pre-copy with RESUMABLE; the destination answers with what it still lacks. */
  RECOVER: 0x03,
  /** An extra data channel of an accepted migration (same sessionId): carries PAGES only. */
  CHANNEL: 0x04,
} as const;
export type Intent = (typeof Intent)[keyof typeof Intent];

/**
 * HELLO feature bits. Up to version 3 a destination refuses bits it does not know; from version 4 it
 * leaves them (and those it does not want) out of HELLO_ACCEPT's accepted features.
 */
export const Feature = {
  /** Mutual authentication with a pre-shared key (AUTH_SOURCE, AUTH_CHALLENGE, AUTH_PROOF). */
  PSK_AUTH: 0x1,
  /** The source may switch to post-copy (POSTCOPY_ENTER, POSTCOPY_MISSING, PAGE_REQUEST, POSTCOPY_DONE). */
  POSTCOPY: 0x2,
  /** The source reconnects (intent RECOVER) if the connection breaks during pre-copy; the destination waits for it. */
  RESUMABLE: 0x4,
  /**
   * Pages may also arrive on extra data channels (HELLO intent CHANNEL). A page always travels on
   * the channel of its stripe (§3.5), so its copies stay in order.
   */
  CHANNELS: 0x8,
} as const;
/** Every feature bit this implementation knows. */
export const KNOWN_FEATURES: number = Feature.PSK_AUTH | Feature.POSTCOPY | Feature.RESUMABLE | Feature.CHANNELS;
export type Feature = (typeof Feature)[keyof typeof Feature];
