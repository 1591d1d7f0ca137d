/**
 * Every bound the decoder enforces, in one place (mirrored in docs/limits.md). A limit is
 * checked before the bytes it guards are buffered, so a peer cannot make us allocate past it.
 */

/** Size of the fixed frame header: u32 body length, u8 type, u8 flags, u16 reserved. */
export const FRAME_HEADER_BYTES = 8;

/** Largest frame body once the handshake is accepted (a PAGES batch of 1 MiB fits with room). */
export const MAX_FRAME_BODY_BYTES: number = 16 * 1024 * 1024;

/** Largest frame body before the handshake is accepted: a stranger gets no more than this. */
export const MAX_HELLO_BODY_BYTES: number = 64 * 1024;

/**
 * Once a frame's first byte has arrived, the whole frame (header included) must arrive within
 * FRAME_DEADLINE_MS plus its size at MIN_FRAME_RATE_BYTES_PER_SEC, or the connection fails with
 * FERRY_TIMEOUT: a peer trickling bytes cannot hold a frame (and the buffer its header claimed)
 * open forever, as the idle timeout alone would let it. The rate is what the slowest link we
 * migrate over (1 MB/s) gives each of MAX_DATA_CHANNELS connections sharing it, halved for
 * TCP's short-term unfairness; the fixed part covers stalls of either process and TCP
 * retransmission back-off. docs/limits.md gives the arithmetic.
 */
export const FRAME_DEADLINE_MS = 10_000;
export const MIN_FRAME_RATE_BYTES_PER_SEC: number = 32 * 1024;

/**
 * What one PAGES batch may decode to: its entries times the page size. An entry that decodes
 * to a whole page can cost 20 bytes on the wire (XBZRLE "unchanged", DEDUP), so without this a
 * 16 MiB frame could make a receiver set aside gigabytes. A sender's batch of raw pages fits a
 * frame, so this is what a correct sender's batches decode to at most.
 */
export const MAX_BATCH_DECODED_BYTES: number = MAX_FRAME_BODY_BYTES;

export const MAX_REGIONS = 256;
export const MAX_REGION_NAME_BYTES = 256;
export const MAX_GUEST_ID_BYTES = 256;
export const MAX_ERROR_MESSAGE_BYTES = 1024;
export const MAX_ERROR_CODE_BYTES = 64;

/** Page sizes we accept: powers of two from 4 KiB to 2 MiB (x86 and arm64 base and huge pages). */
export const MIN_PAGE_SIZE = 4096;
export const MAX_PAGE_SIZE: number = 2 * 1024 * 1024;

/** Largest page index a region may have: pages are addressed with a u32. */
export const MAX_PAGES_PER_REGION = 0xffff_ffff;

/** Device state is an opaque blob from the control plane, sent in chunks, bounded in total. */
export const MAX_DEVICE_STATE_BYTES: number = 256 * 1024 * 1024;

/** Bytes each page entry takes in a PAGES batch, before payloads. */
export const PAGE_ENTRY_BYTES = 20;

/** Bytes of the fixed part of a PAGES body. */
export const PAGES_HEADER_BYTES = 12;

/** Payload bytes of a DEDUP page entry. */
export const DEDUP_PAYLOAD_BYTES = 8;

/** Bytes of the decoded-size prefix of an LZ4 page payload. */
export const LZ4_SIZE_PREFIX_BYTES = 4;

/** Bytes of each side's authentication nonce. */
export const AUTH_NONCE_BYTES = 32;

/** Bytes of an authentication MAC (HMAC-SHA-256). */
export const AUTH_MAC_BYTES = 32;

/** Pages one POSTCOPY_MISSING message covers at most (its run-length body stays under 1 MiB). */
export const MAX_MISSING_PAGES_PER_MESSAGE: number = 1 << 20;

/** Pages one PAGE_REQUEST may ask for. */
export const MAX_PAGES_PER_REQUEST = 1024;

/** Bytes a PROBE may push to measure the link (PROBE_DATA), and the largest PROBE_DATA body. */
export const MAX_PROBE_BYTES: number = 256 * 1024 * 1024;
export const MAX_PROBE_DATA_BODY_BYTES: number = 1024 * 1024;

/**
 * With several data channels, pages are striped: global page key k (pages of all regions back
 * to back) travels on channel floor(k / STRIPE_PAGES) mod channels. Channel 0 is the control
 * connection. Data channels a source may open besides it: at most MAX_DATA_CHANNELS − 1.
 */
export const STRIPE_PAGES = 256;
export const MAX_DATA_CHANNELS = 16;

/** ECHO messages one session may send (§3.7): each gets a reply, so a bound keeps the reply queue bounded. */
export const MAX_ECHOES = 64;
