/**
 * The page kernels: the few loops over guest memory that dominate a migration's CPU time.
 * Two implementations pass the same parity test: the native addon `@ferry/native`
 * (`native-loader.ts`) and a TypeScript twin over xxhash-wasm (`js-kernels.ts`).
 *
 * Every argument may be a view of a SharedArrayBuffer that a worker writes while the kernel
 * runs; a page's hash and zero flag then describe some state of the page during the call,
 * and dirty tracking catches the page again. Bad arguments throw a `UsageError` with code
 * `FERRY_INVALID_ARGUMENT` before anything is written.
 */
export interface Kernels {
  /** Which implementation this is, for reports and benchmarks. */
  readonly name: 'native' | 'js';

  /**
   * Writes xxh64 (seed 0) of page `i` of `data` to `out[i]` for every page.
   * `data.byteLength` must be a multiple of `pageSize` (an integer in [1, 2^32)), and `out`
   * must hold at least `data.byteLength / pageSize` words; words past those are left alone.
   */
  hashPages(data: Uint8Array, pageSize: number, out: BigUint64Array): void;

  /**
   * Hashes every page like `hashPages` and, in the same pass, records which pages are all
   * zero bytes: bit `i` of `zeroBitsOut` (word `i >>> 5`, bit `i & 31`) is set iff page `i`
   * is zero and cleared otherwise. Bits past the last page are left alone, and
   * `zeroBitsOut` must hold at least `ceil(pageCount / 32)` words. Returns the number of
   * zero pages.
   */
  scanPages(data: Uint8Array, pageSize: number, hashesOut: BigUint64Array, zeroBitsOut: Uint32Array): number;

  /**
   * `scanPages` with a fingerprint instead of xxh64 where that is faster: xxh3-64 (SIMD) in
   * the addon, xxh64 in the TypeScript twin. For finding changed pages by content only:
   * compare a fingerprint with fingerprints of the same kernels, never with a checksum. Zero
   * bits and the return value are exactly those of `scanPages`.
   */
  fingerprintPages(data: Uint8Array, pageSize: number, fingerprintsOut: BigUint64Array, zeroBitsOut: Uint32Array): number;

  /** `fingerprintPages` off the event loop, under the same rules as `scanPagesAsync` (native only). */
  fingerprintPagesAsync?(
    data: Uint8Array,
    pageSize: number,
    fingerprintsOut: BigUint64Array,
    zeroBitsOut: Uint32Array,
    signal?: AbortSignal,
  ): Promise<number>;

  /** xxh64 (seed 0) of all of `data`. */
  xxh64(data: Uint8Array): bigint;

  /**
   * Writes the XBZRLE delta of `cur` against `old` (QEMU's format; see `xbzrle.ts`) to the
   * start of `out` and returns its length: 0 when the pages are equal, -1 (with `out` partly
   * written) when the delta is longer than `out.byteLength` or cannot be expressed (16384 or
   * more changed bytes in a row, possible only on pages over 16 KiB). Pass an `out` of the
   * size past which another encoding is better. `old` and `cur` must have the same length;
   * `out` must not overlap them. If `cur` is written meanwhile, the delta may mix old and new
   * bytes of the racing writes: to keep a delta cache exact, encode from a private copy.
   */
  xbzrleEncode(old: Uint8Array, cur: Uint8Array, out: Uint8Array): number;

  /**
   * Applies XBZRLE delta `delta` to `page`, which holds the old content, in place. The whole
   * delta is checked first: if QEMU's decoder would reject it, this throws an `IntegrityError`
   * coded `FERRY_DECODE_FAILED` and leaves `page` untouched. Never writes outside `page`.
   * `delta` must not overlap `page`.
   */
  xbzrleDecode(delta: Uint8Array, page: Uint8Array): void;

  /**
   * `scanPages` off the event loop, on the addon's thread pool (native only). The buffers
   * must not be transferred, shrunk or resized until the promise settles. Aborting `signal`
   * stops the scan within 64 pages and rejects with `signal.reason`; outputs may then be
   * partly written.
   */
  scanPagesAsync?(
    data: Uint8Array,
    pageSize: number,
    hashesOut: BigUint64Array,
    zeroBitsOut: Uint32Array,
    signal?: AbortSignal,
  ): Promise<number>;

  /** `hashPages` off the event loop, under the same rules as `scanPagesAsync` (native only). */
  hashPagesAsync?(data: Uint8Array, pageSize: number, out: BigUint64Array, signal?: AbortSignal): Promise<void>;
}
