import { GuestMemory } from '../../src/index.ts';
import { writePattern } from '../../src/testing/index.ts';

/**
 * What `fillPages` writes into each chosen page (all deterministic: the same call gives the
 * same bytes in every run):
 * - `pattern`: `writePattern(page, index, version)`, a self-checking page that `checkPattern` and
 *   `findTornPages` can verify on its own (a torn or misplaced page fails).
 * - `indexed`: the page index as u32 LE at offset 0, and `index * 2654435761` as u32 LE every
 *   512 bytes from offset 64, the rest zero: a guest reading one word knows which page it has
 *   (page 0 is therefore all zero).
 * - `text`: JSON records, like a heap of small objects: very compressible, and distinct per page.
 * - `random`: xorshift32 bytes: incompressible, distinct per page.
 * - `mixed`: what a codec meets, by `index % 8`: 0 all zero, 1 random, 2 the same bytes as page 1
 *   (duplicates all over the region), 3..7 text.
 * - `zero-edges`: what a zero-page test can get wrong, by `index % 5`: 0 random, 1 all zero, 2 zero
 *   but the first byte, 3 zero but the last byte, 4 zero but the middle byte.
 */
export type PageContent = 'pattern' | 'indexed' | 'text' | 'random' | 'mixed' | 'zero-edges';

export interface FillOptions {
  /** Regions to fill; default every region. */
  readonly regions?: readonly number[];
  /** Which pages of a region to fill; default all. The others are left as they are. */
  readonly pages?: (page: number, region: number) => boolean;
  /** The version `pattern` writes; default 1. */
  readonly version?: number;
  /**
   * `text` and `random`: page `i` gets the content of page `i % variants`, so pages repeat (for
   * deduplication); default every page its own.
   */
  readonly variants?: number;
  /** Varies `text`, `random`, `mixed` and `zero-edges` content between fills of the same pages; default 0. */
  readonly seed?: number;
}

/** `fillPages`' `content` and options in one value, for `guestMemory({ fill })`. */
export type PageFill = PageContent | (FillOptions & { readonly content: PageContent });

/** Pages of `pageSize` bytes back to back, not a `GuestMemory` (any page size, any backing, any offset). */
export interface PageRun {
  readonly bytes: Uint8Array;
  readonly pageSize: number;
}

/** What was filled: `zeroPages(region)` lists the pages of a region that are all zero now. */
export interface FilledPages {
  zeroPages(region?: number): Set<number>;
}

/** Writes `content` into the chosen pages of `target` (a guest's memory or a bare run of pages). */
export function fillPages(target: GuestMemory | PageRun, content: PageContent, options: FillOptions = {}): FilledPages {
  const regions = target instanceof GuestMemory ? target.regions.map((r) => r.bytes) : [target.bytes];
  const ps = target.pageSize;
  const which = options.regions ?? regions.map((_, i) => i);
  for (const r of which) {
    const bytes = regions[r];
    if (!bytes) throw new RangeError(`no region ${r}`);
    const pageCount = Math.floor(bytes.byteLength / ps);
    for (let p = 0; p < pageCount; p++) {
      if (options.pages && !options.pages(p, r)) continue;
      fillPage(bytes.subarray(p * ps, (p + 1) * ps), p, r, content, options);
    }
  }
  return {
    zeroPages(region = 0) {
      const bytes = regions[region];
      if (!bytes) throw new RangeError(`no region ${region}`);
      const zero = new Set<number>();
      for (let p = 0; p * ps + ps <= bytes.byteLength; p++) if (isZero(bytes.subarray(p * ps, (p + 1) * ps))) zero.add(p);
      return zero;
    },
  };
}

function fillPage(page: Uint8Array, index: number, region: number, content: PageContent, o: FillOptions): void {
  const seed = o.seed ?? 0;
  const variant = o.variants === undefined ? index : index % o.variants;
  switch (content) {
    case 'pattern':
      if (page.byteLength % 4 !== 0 || page.byteOffset % 4 !== 0) throw new RangeError('pattern pages need whole aligned words');
      writePattern(page, index, o.version ?? 1);
      return;
    case 'indexed': {
      const view = new DataView(page.buffer, page.byteOffset, page.byteLength);
      view.setUint32(0, index, true);
      for (let off = 64; off < page.byteLength - 8; off += 512) view.setUint32(off, (index * 2654435761) >>> 0, true);
      return;
    }
    case 'text':
      textPage(page, variant + seed);
      return;
    case 'random':
      randomPage(page, seedOf(seed, region, variant));
      return;
    case 'mixed':
      switch (index % 8) {
        case 0:
          page.fill(0);
          return;
        case 1:
          randomPage(page, seedOf(seed, region, index));
          return;
        case 2: // page 1's seed: the same bytes
          randomPage(page, seedOf(seed, region, 1));
          return;
        default:
          textPage(page, index + seed);
          return;
      }
    case 'zero-edges':
      page.fill(0);
      switch (index % 5) {
        case 0:
          randomPage(page, seedOf(seed, region, index));
          return;
        case 1:
          return;
        case 2:
          page[0] = 1;
          return;
        case 3:
          page[page.byteLength - 1] = 0x80;
          return;
        default:
          page[page.byteLength >> 1] = 0xff;
      }
  }
}

/** A JSON record whose id and name derive from `seed`, repeated to fill the page (LZ4 takes it to under a tenth). */
function textPage(page: Uint8Array, seed: number): void {
  const text = Buffer.from(`{"id":${seed},"name":"user${seed % 13}","tags":["a","b"],"ok":true},`);
  for (let at = 0; at < page.byteLength; at += text.byteLength)
    page.set(text.subarray(0, Math.min(text.byteLength, page.byteLength - at)), at);
}

/** xorshift32 from `seed` (never 0). */
function randomPage(page: Uint8Array, seed: number): void {
  let s = seed >>> 0 || 1;
  for (let i = 0; i < page.length; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    page[i] = s & 0xff;
  }
}

function seedOf(seed: number, region: number, index: number): number {
  return (Math.imul(index + 1, 0x9e37_79b1) ^ Math.imul(region + 1, 0x85eb_ca6b) ^ Math.imul(seed, 0xc2b2_ae35)) >>> 0;
}

function isZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}
