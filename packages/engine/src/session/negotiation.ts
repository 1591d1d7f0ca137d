/**
 * The terms a session runs under once HELLO_ACCEPT is read: the version, the largest frame body
 * the destination takes, the features it accepted and the page encodings it decodes. Version 4
 * negotiates the last two (§3.1.1); before it, an accepted HELLO's features are all accepted and
 * every encoding is decoded.
 */
import { encodingNames, encodingsUsed } from '../codec/encodings.ts';
import { ErrorCode, HandshakeError, ProtocolError } from '../errors.ts';
import {
  ALL_ENCODINGS,
  encodingBit,
  Feature,
  KNOWN_FEATURES,
  NEGOTIATION_MIN_VERSION,
  PageEncoding,
  PROTOCOL_VERSION,
  REQUIRED_ENCODINGS,
} from '../protocol/constants.ts';
import { MAX_FRAME_BODY_BYTES, MAX_HELLO_BODY_BYTES, PAGE_ENTRY_BYTES, PAGES_HEADER_BYTES } from '../protocol/limits.ts';
import type * as msg from '../protocol/messages.ts';
import type { MigrateOptions } from './migrate-options.ts';
import type { NegotiatedTerms } from './report.ts';

export interface SessionTerms {
  readonly version: number;
  /** The source sends no frame body larger than this. */
  readonly maxFrameBodyBytes: number;
  /** The HELLO's features the destination accepted. */
  readonly features: number;
  /** The page encodings the destination decodes, bit `1 << encoding` each. */
  readonly encodings: number;
}

/** The optional encodings a destination may decline to decode, by name (RAW and ZERO it always decodes). */
export type OptionalEncoding = 'lz4' | 'xbzrle' | 'dedup';
export const OPTIONAL_ENCODINGS: Readonly<Record<OptionalEncoding, PageEncoding>> = {
  lz4: PageEncoding.LZ4,
  xbzrle: PageEncoding.XBZRLE,
  dedup: PageEncoding.DEDUP,
};

/** The features a destination may decline, by name (PSK_AUTH follows the key, not a choice). */
export type OptionalFeature = 'postcopy' | 'resumable' | 'channels';
export const OPTIONAL_FEATURES: Readonly<Record<OptionalFeature, number>> = {
  postcopy: Feature.POSTCOPY,
  resumable: Feature.RESUMABLE,
  channels: Feature.CHANNELS,
};

/**
 * The smallest `maxFrameBodyBytes` a destination may announce for pages of `pageSize`: a
 * handshake-sized frame, and a PAGES batch of one raw page with room for its header and entry.
 */
export function minFrameBodyBytes(pageSize: number): number {
  return Math.max(MAX_HELLO_BODY_BYTES, pageSize + 4096);
}

/** The bits of the optional features named. */
export function featureBits(names: readonly OptionalFeature[]): number {
  return names.reduce<number>((bits, f) => bits | OPTIONAL_FEATURES[f], 0);
}

/** The features and encodings a destination's options allow, as bits. */
export function destinationOffer(o: {
  readonly acceptFeatures?: readonly OptionalFeature[];
  readonly acceptEncodings?: readonly OptionalEncoding[];
}): { features: number; encodings: number } {
  const features = o.acceptFeatures ? Feature.PSK_AUTH | featureBits(o.acceptFeatures) : KNOWN_FEATURES;
  const encodings = o.acceptEncodings
    ? o.acceptEncodings.reduce<number>((bits, e) => bits | encodingBit(OPTIONAL_ENCODINGS[e]), REQUIRED_ENCODINGS)
    : ALL_ENCODINGS;
  return { features, encodings };
}

/**
 * The destination's side: the terms it announces for `hello`. Version 4 takes what it can of the
 * HELLO's features (unknown and unwanted bits left out); before version 4 admission has refused
 * a HELLO with bits it does not take, so all are accepted.
 */
export function destinationTerms(
  hello: msg.Hello,
  offer: { features: number; encodings: number },
  maxFrameBodyBytes: number = MAX_FRAME_BODY_BYTES,
): SessionTerms {
  const version = Math.min(PROTOCOL_VERSION, hello.versionMax);
  const body = Math.max(maxFrameBodyBytes, minFrameBodyBytes(hello.pageSize));
  if (version < NEGOTIATION_MIN_VERSION) {
    return { version, maxFrameBodyBytes: body, features: hello.features, encodings: ALL_ENCODINGS };
  }
  return { version, maxFrameBodyBytes: body, features: hello.features & offer.features, encodings: offer.encodings };
}

/**
 * The source's side: the terms of a HELLO_ACCEPT, checked against what was offered. Before
 * version 4 everything offered is accepted and every encoding decoded.
 */
export function sourceTerms(accept: msg.HelloAccept, offered: number, pageSize: number): SessionTerms {
  const least = minFrameBodyBytes(pageSize);
  if (accept.maxFrameBodyBytes < least) {
    throw new ProtocolError(
      ErrorCode.FRAME_MALFORMED,
      `HELLO_ACCEPT announces frame bodies of at most ${accept.maxFrameBodyBytes} bytes; pages of ${pageSize} bytes need at least ${least}`,
    );
  }
  const maxFrameBodyBytes = Math.min(accept.maxFrameBodyBytes, MAX_FRAME_BODY_BYTES);
  if (accept.version < NEGOTIATION_MIN_VERSION) {
    return { version: accept.version, maxFrameBodyBytes, features: offered, encodings: ALL_ENCODINGS };
  }
  const features = accept.features ?? 0;
  if ((features & ~offered) !== 0) {
    throw new ProtocolError(
      ErrorCode.FRAME_MALFORMED,
      `HELLO_ACCEPT accepts features 0x${features.toString(16)}, more than the 0x${offered.toString(16)} offered`,
    );
  }
  if ((features & Feature.PSK_AUTH) !== (offered & Feature.PSK_AUTH)) {
    throw new ProtocolError(ErrorCode.FRAME_MALFORMED, 'HELLO_ACCEPT changes PSK_AUTH, which the key exchange settled');
  }
  return { version: accept.version, maxFrameBodyBytes, features, encodings: accept.encodings ?? ALL_ENCODINGS };
}

/** Names of the features in `bits`. */
export function featureList(bits: number): string[] {
  return Object.entries(Feature)
    .filter(([, bit]) => (bits & bit) !== 0)
    .map(([name]) => name);
}

/** The features in `bits`, for messages ("none" when there are none). */
export function featureNames(bits: number): string {
  return featureList(bits).join(', ') || 'none';
}

/** Throws FERRY_FEATURE_REFUSED when the destination did not accept `feature`, which the migration cannot do without. */
export function requireFeature(terms: SessionTerms, feature: number, why: string): void {
  if ((terms.features & feature) === 0) {
    throw new HandshakeError(
      ErrorCode.FEATURE_REFUSED,
      `the destination does not accept ${featureNames(feature)} (it accepted: ${featureNames(terms.features)}), which ${why} needs`,
    );
  }
}

/**
 * `o` as the destination's terms allow: features it declined that the migration can do without
 * are dropped (hybrid runs as pre-copy, channels collapse to one connection, pre-copy is not
 * recovered), encodings it does not decode fall back to RAW; pure post-copy without POSTCOPY
 * throws FERRY_FEATURE_REFUSED.
 */
export function adaptToTerms(o: MigrateOptions, terms: SessionTerms): { options: MigrateOptions; negotiated: NegotiatedTerms } {
  const declined: string[] = [];
  let options = o;
  const has = (feature: number): boolean => (terms.features & feature) !== 0;
  if (o.strategy === 'postcopy') requireFeature(terms, Feature.POSTCOPY, "strategy 'postcopy'");
  if (o.strategy === 'hybrid' && !has(Feature.POSTCOPY)) {
    options = { ...options, strategy: 'precopy' };
    declined.push("POSTCOPY: strategy 'hybrid' runs as pre-copy");
  }
  if ((o.channels ?? 1) > 1 && !has(Feature.CHANNELS)) {
    options = { ...options, channels: 1 };
    declined.push(`CHANNELS: ${o.channels} channels collapse to the control connection`);
  }
  if ((o.precopyRecoveryMs ?? 0) > 0 && !has(Feature.RESUMABLE)) {
    options = { ...options, precopyRecoveryMs: 0 };
    declined.push('RESUMABLE: a broken pre-copy connection is not recovered');
  }
  // What the mode would use against what it can use here: each encoding lost is said once.
  const wanted = encodingsUsed(o.compression ?? 'off', ALL_ENCODINGS);
  const usable = encodingsUsed(o.compression ?? 'off', terms.encodings);
  if (wanted.lz4 && !usable.lz4) declined.push('LZ4: those pages go raw');
  if (wanted.xbzrle && !usable.xbzrle) declined.push('XBZRLE: those pages go raw');
  if (wanted.dedup && !usable.dedup) declined.push('DEDUP: duplicate pages go in full');
  const negotiated: NegotiatedTerms = {
    version: terms.version,
    maxFrameBodyBytes: terms.maxFrameBodyBytes,
    features: featureList(terms.features),
    encodings: encodingNames(terms.encodings),
    declined,
  };
  return { options, negotiated };
}

/**
 * Pages per PAGES batch that fit `maxFrameBodyBytes` however they are encoded (no encoding is
 * chosen when it is longer than the raw page), at most `requested`.
 */
export function batchPagesFor(maxFrameBodyBytes: number, pageSize: number, requested: number): number {
  return Math.max(1, Math.min(requested, Math.floor((maxFrameBodyBytes - PAGES_HEADER_BYTES) / (pageSize + PAGE_ENTRY_BYTES))));
}
