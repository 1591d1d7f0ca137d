/**
 * Inputs for the decoders' fuzzing: valid encodings (so that mutations reach deep into a
 * decoder rather than failing at its first check) and the mutations fast-check applies to them:
 * bit flips, cuts, extensions, and length-like words (0, 1, 2^31, 2^32 - 1, the page size).
 */
import fc from 'fast-check';
import type { Kernels } from '@ferry/engine';
import { lz4CompressPage } from '../../../engine/src/codec/lz4.ts';
import { Rng } from './rng.ts';

export type Mutation =
  | { readonly op: 'flip'; readonly at: number; readonly bit: number }
  | { readonly op: 'cut'; readonly at: number }
  | { readonly op: 'append'; readonly bytes: Uint8Array }
  | { readonly op: 'insert'; readonly at: number; readonly bytes: Uint8Array }
  | { readonly op: 'u32'; readonly at: number; readonly value: number }
  | { readonly op: 'byte'; readonly at: number; readonly value: number };

const INTERESTING_WORDS = [
  0,
  1,
  2,
  7,
  8,
  0x7f,
  0x80,
  0xff,
  0x100,
  0x3fff,
  0x4000,
  0xffff,
  0x1_0000,
  4095,
  4096,
  4097,
  1 << 20,
  0x7fff_ffff,
  0x8000_0000,
  0xffff_fffe,
  0xffff_ffff,
];

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat(7) }),
  fc.record({ op: fc.constant('cut' as const), at: fc.nat() }),
  fc.record({ op: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 24 }) }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ op: fc.constant('u32' as const), at: fc.nat(), value: fc.constantFrom(...INTERESTING_WORDS) }),
  fc.record({ op: fc.constant('byte' as const), at: fc.nat(), value: fc.nat(255) }),
);

/** Up to four mutations (possibly none: the valid input itself). */
export const mutationsArb: fc.Arbitrary<Mutation[]> = fc.array(mutationArb, { maxLength: 4 });

export function mutate(input: Uint8Array, mutations: readonly Mutation[]): Uint8Array {
  let b = Buffer.from(input);
  for (const m of mutations) {
    const at = b.byteLength === 0 ? 0 : m.op === 'append' ? 0 : m.at % (b.byteLength + (m.op === 'insert' || m.op === 'cut' ? 1 : 0));
    switch (m.op) {
      case 'flip':
        if (b.byteLength > 0) b[at]! ^= 1 << m.bit;
        break;
      case 'cut':
        b = b.subarray(0, at);
        break;
      case 'append':
        b = Buffer.concat([b, m.bytes]);
        break;
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), m.bytes, b.subarray(at)]);
        break;
      case 'u32':
        if (b.byteLength >= 4) b.writeUInt32LE(m.value >>> 0, Math.min(at, b.byteLength - 4));
        break;
      case 'byte':
        if (b.byteLength > 0) b[at] = m.value;
        break;
    }
  }
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}

/** A valid input from `make(seed)`, mutated; or, one time in eight, random bytes. */
export function mutatedArb(make: (seed: number) => Uint8Array, maxRandom = 256): fc.Arbitrary<Uint8Array> {
  return fc.oneof(
    { weight: 7, arbitrary: fc.tuple(fc.integer(), mutationsArb).map(([seed, ms]) => mutate(make(seed), ms)) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: maxRandom }) },
  );
}

/** A page of `pageSize` bytes of one of several kinds (zero, text-like, random, runs), from `seed`. */
export function samplePage(pageSize: number, seed: number): Uint8Array {
  const rng = new Rng(seed);
  const page = new Uint8Array(pageSize);
  switch (rng.int(0, 3)) {
    case 0:
      break;
    case 1:
      for (let i = 0; i < pageSize; i++) page[i] = 0x61 + (i % 23);
      break;
    case 2:
      page.set(rng.bytes(pageSize));
      break;
    default:
      for (let i = 0; i < pageSize; i += 64) page.fill(rng.int(0, 3), i, i + rng.int(1, 64));
  }
  return page;
}

export interface BatchSpec {
  readonly region: number;
  readonly round: number;
  readonly entries: readonly {
    readonly page: number;
    readonly encoding: number;
    readonly payload: Uint8Array;
    readonly checksum: bigint;
  }[];
}

/** A PAGES body (docs/protocol.md §3.2) from its entries. */
export function pagesBody(spec: BatchSpec): Uint8Array {
  const payloadBytes = spec.entries.reduce((n, e) => n + e.payload.byteLength, 0);
  const body = Buffer.alloc(12 + spec.entries.length * 20 + payloadBytes);
  body.writeUInt16LE(spec.region, 0);
  body.writeUInt32LE(spec.round, 4);
  body.writeUInt32LE(spec.entries.length, 8);
  let at = 12 + spec.entries.length * 20;
  spec.entries.forEach((e, i) => {
    const entry = 12 + i * 20;
    body.writeUInt32LE(e.page, entry);
    body[entry + 4] = e.encoding;
    body.writeUInt32LE(e.payload.byteLength, entry + 8);
    body.writeBigUInt64LE(e.checksum, entry + 12);
    body.set(e.payload, at);
    at += e.payload.byteLength;
  });
  return new Uint8Array(body.buffer, body.byteOffset, body.byteLength);
}

/**
 * A valid batch against `held` (the receiver's current pages of region `region`, by index):
 * each entry RAW, ZERO, LZ4, XBZRLE (against the page as held) or DEDUP (of a page held), with
 * the checksum of its decoded content.
 */
export function validBatch(
  kernels: Kernels,
  pageSize: number,
  region: number,
  held: readonly Uint8Array[],
  received: readonly number[],
  seed: number,
): Uint8Array {
  const rng = new Rng(seed);
  const entries: BatchSpec['entries'][number][] = [];
  const n = rng.int(1, 6);
  for (let i = 0; i < n; i++) {
    const page = rng.int(0, held.length - 1);
    const content = samplePage(pageSize, rng.next());
    const kind = rng.int(0, 4);
    if (kind === 0) entries.push({ page, encoding: 0x01, payload: content, checksum: kernels.xxh64(content) });
    else if (kind === 1)
      entries.push({ page, encoding: 0x02, payload: new Uint8Array(0), checksum: kernels.xxh64(new Uint8Array(pageSize)) });
    else if (kind === 2) {
      const lz4 = lz4CompressPage(content);
      if (lz4.byteLength < pageSize) entries.push({ page, encoding: 0x03, payload: lz4, checksum: kernels.xxh64(content) });
    } else if (kind === 3) {
      const next = Uint8Array.from(held[page]!);
      for (let k = rng.int(1, 4); k > 0; k--) next[rng.int(0, pageSize - 1)] = rng.int(0, 255);
      const out = new Uint8Array(pageSize >>> 1);
      const length = kernels.xbzrleEncode(held[page]!, next, out);
      if (length >= 0) entries.push({ page, encoding: 0x04, payload: out.slice(0, length), checksum: kernels.xxh64(next) });
    } else if (received.length > 0) {
      const other = received[rng.int(0, received.length - 1)]!;
      const ref = Buffer.alloc(8);
      ref.writeUInt16LE(region, 0);
      ref.writeUInt32LE(other, 4);
      entries.push({ page, encoding: 0x05, payload: ref, checksum: kernels.xxh64(held[other]!) });
    }
  }
  return pagesBody({ region, round: rng.int(0, 3), entries });
}
