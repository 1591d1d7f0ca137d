import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import xxhash from 'xxhash-wasm';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJsKernels, type Kernels, loadKernels, loadNativeKernels, NO_NATIVE_ENV, nativeStatus } from '../../src/accel/index.ts';
import { ErrorCode, FerryError, UsageError } from '../../src/errors.ts';
import { fillPages } from '../harness/index.ts';

const MiB = 1 << 20;
// CI always builds the addon: without FERRY_NO_NATIVE=1 the native tests must run, and fail
// when it does not load, rather than skip.
const nativeDisabled = process.env[NO_NATIVE_ENV] === '1';

type Backing = 'SharedArrayBuffer' | 'ArrayBuffer';

function allocate(byteLength: number, backing: Backing): ArrayBufferLike {
  return backing === 'SharedArrayBuffer' ? new SharedArrayBuffer(byteLength) : new ArrayBuffer(byteLength);
}

/**
 * `pageCount` pages in the `zero-edges` rotation (random, all zero, zero but for the first, the
 * last or the middle byte), from `byteOffset` into a fresh buffer. Returns the bytes and the zero pages.
 */
function pageRun(pageSize: number, pageCount: number, backing: Backing, byteOffset = 0): { data: Uint8Array; zeroPages: Set<number> } {
  const data = new Uint8Array(allocate(byteOffset + pageSize * pageCount, backing), byteOffset);
  const zeroPages = fillPages({ bytes: data, pageSize }, 'zero-edges').zeroPages();
  return { data, zeroPages };
}

interface ScanResult {
  hashes: BigUint64Array;
  zeroBits: Uint32Array;
  zeroCount: number;
}

/** Scans into outputs one word longer than needed, pre-filled so untouched words show. */
function scan(kernels: Kernels, data: Uint8Array, pageSize: number, backing: Backing): ScanResult {
  const pageCount = data.byteLength / pageSize;
  const hashes = new BigUint64Array(allocate((pageCount + 1) * 8, backing)).fill(7n);
  const zeroBits = new Uint32Array(allocate((Math.ceil(pageCount / 32) + 1) * 4, backing)).fill(0xa5a5_a5a5);
  const zeroCount = kernels.scanPages(data, pageSize, hashes, zeroBits);
  return { hashes, zeroBits, zeroCount };
}

function wordAt(words: Uint32Array, index: number): number {
  const word = words[index];
  if (word === undefined) throw new RangeError(`no word ${index}`);
  return word;
}

function zeroBit(bits: Uint32Array, page: number): boolean {
  return ((wordAt(bits, page >>> 5) >>> (page & 31)) & 1) === 1;
}

let js: Kernels;
let h64Raw: (input: Uint8Array, seed?: bigint) => bigint;

beforeAll(async () => {
  js = await createJsKernels();
  ({ h64Raw } = await xxhash());
});

describe('the JS kernels', () => {
  it('hash each page with xxh64 seed 0 and flag exactly the zero pages', () => {
    const pageSize = 4096;
    const { data, zeroPages } = pageRun(pageSize, 45, 'ArrayBuffer');
    const { hashes, zeroBits, zeroCount } = scan(js, data, pageSize, 'ArrayBuffer');
    expect(zeroCount).toBe(zeroPages.size);
    for (let page = 0; page < 45; page++) {
      const bytes = data.subarray(page * pageSize, (page + 1) * pageSize);
      expect(hashes[page]).toBe(h64Raw(bytes, 0n));
      expect(zeroBit(zeroBits, page)).toBe(zeroPages.has(page));
    }
    expect(hashes[45]).toBe(7n);
    expect(wordAt(zeroBits, 1) >>> 13).toBe(0xa5a5_a5a5 >>> 13);
    expect(zeroBits[2]).toBe(0xa5a5_a5a5);
  });

  it('give xxh64 of empty input as 0xef46db3751d8e999 and of "abc" as 0x44bc2cf5ad770999', () => {
    expect(js.xxh64(new Uint8Array(0))).toBe(0xef46_db37_51d8_e999n);
    expect(js.xxh64(new TextEncoder().encode('abc'))).toBe(0x44bc_2cf5_ad77_0999n);
  });
});

describe.skipIf(nativeDisabled)('the native kernels', () => {
  let native: Kernels;

  beforeAll(async () => {
    native = await loadKernels({ native: true });
  });

  it('load by default, with no reason given', async () => {
    expect(nativeStatus()).toEqual({ loaded: true });
    expect((await loadKernels()).name).toBe('native');
    expect(native.name).toBe('native');
  });

  it('fingerprint pages (xxh3) with the zero bits of scanPages, sync and async alike', async () => {
    const pageSize = 4096;
    const pageCount = 200;
    const { data } = pageRun(pageSize, pageCount, 'SharedArrayBuffer');
    data.copyWithin(7 * pageSize, 5 * pageSize, 6 * pageSize); // page 7 = page 5
    const scanned = scan(native, data, pageSize, 'SharedArrayBuffer');
    const fingerprints = new BigUint64Array(pageCount);
    const zeroBits = new Uint32Array(Math.ceil(pageCount / 32)).fill(0xa5a5_a5a5); // as `scan` pre-fills
    expect(native.fingerprintPages(data, pageSize, fingerprints, zeroBits)).toBe(scanned.zeroCount);
    expect(zeroBits).toEqual(scanned.zeroBits.subarray(0, zeroBits.length));
    expect(fingerprints[7]).toBe(fingerprints[5]);
    // Distinct non-zero contents give distinct fingerprints, and they are not the xxh64 checksums.
    expect(fingerprints[0]).not.toBe(fingerprints[2]);
    expect(fingerprints[0]).not.toBe(scanned.hashes[0]);
    const again = new BigUint64Array(pageCount);
    expect(await native.fingerprintPagesAsync!(data, pageSize, again, new Uint32Array(zeroBits.length))).toBe(scanned.zeroCount);
    expect(again).toEqual(fingerprints);
  });

  for (const backing of ['SharedArrayBuffer', 'ArrayBuffer'] as const) {
    for (const pageSize of [4096, 65536]) {
      const article = backing === 'ArrayBuffer' ? 'an' : 'a';
      it(`match the JS kernels on ${pageSize}-byte pages of ${article} ${backing}`, () => {
        const pageCount = (4 * MiB) / pageSize + 3;
        const { data, zeroPages } = pageRun(pageSize, pageCount, backing);
        const fromNative = scan(native, data, pageSize, backing);
        const fromJs = scan(js, data, pageSize, backing);
        expect(fromNative.hashes).toEqual(fromJs.hashes);
        expect(fromNative.zeroBits).toEqual(fromJs.zeroBits);
        expect(fromNative.zeroCount).toBe(zeroPages.size);
        for (let page = 0; page < pageCount; page++) {
          expect(zeroBit(fromNative.zeroBits, page)).toBe(zeroPages.has(page));
        }
        const hashes = new BigUint64Array(pageCount);
        native.hashPages(data, pageSize, hashes);
        expect(hashes).toEqual(fromJs.hashes.subarray(0, pageCount));
      });
    }
  }

  it('match the JS kernels on unaligned data and odd page sizes', () => {
    for (const [pageSize, byteOffset] of [
      [1000, 3],
      [4096, 1],
      [12, 4],
      [1, 0],
    ] as const) {
      const { data } = pageRun(pageSize, 70, 'SharedArrayBuffer', byteOffset);
      const fromNative = scan(native, data, pageSize, 'ArrayBuffer');
      const fromJs = scan(js, data, pageSize, 'ArrayBuffer');
      expect(fromNative).toEqual(fromJs);
    }
  });

  it('hash an empty buffer as zero pages without writing anything', () => {
    const out = scan(native, new Uint8Array(0), 4096, 'ArrayBuffer');
    expect(out).toEqual(scan(js, new Uint8Array(0), 4096, 'ArrayBuffer'));
    expect(out.zeroCount).toBe(0);
    expect(out.hashes[0]).toBe(7n);
    expect(out.zeroBits[0]).toBe(0xa5a5_a5a5);
  });

  it('give xxh64 equal to xxhash-wasm for every length around the block sizes', () => {
    const bytes = new Uint8Array(new SharedArrayBuffer(MiB + 7));
    fillPages({ bytes, pageSize: bytes.byteLength }, 'random', { seed: 99 });
    const lengths = [...Array.from({ length: 100 }, (_, i) => i), 4095, 4096, 4097, 8193, MiB + 7];
    for (const length of lengths) {
      const input = bytes.subarray(0, length);
      expect(native.xxh64(input)).toBe(h64Raw(input, 0n));
      expect(native.xxh64(input)).toBe(js.xxh64(input));
    }
    expect(native.xxh64(new Uint8Array(0))).toBe(0xef46_db37_51d8_e999n);
    expect(native.xxh64(new TextEncoder().encode('abc'))).toBe(0x44bc_2cf5_ad77_0999n);
  });

  it('scan off the event loop to the same hashes, bitmap and count', async () => {
    const { data } = pageRun(4096, 1000, 'SharedArrayBuffer');
    const expected = scan(js, data, 4096, 'SharedArrayBuffer');
    const hashes = new BigUint64Array(1001).fill(7n);
    const zeroBits = new Uint32Array(33).fill(0xa5a5_a5a5);
    const zeroCount = await native.scanPagesAsync?.(data, 4096, hashes, zeroBits);
    expect({ hashes, zeroBits, zeroCount }).toEqual(expected);
    const pageHashes = new BigUint64Array(1000);
    await native.hashPagesAsync?.(data, 4096, pageHashes);
    expect(pageHashes).toEqual(expected.hashes.subarray(0, 1000));
  });

  it('reject an aborted async scan with the signal reason', async () => {
    const data = new Uint8Array(64 * MiB);
    const hashes = new BigUint64Array(data.length / 4096);
    const zeroBits = new Uint32Array(hashes.length / 32);
    const reason = new Error('stop');
    await expect(native.scanPagesAsync?.(data, 4096, hashes, zeroBits, AbortSignal.abort(reason))).rejects.toBe(reason);
    const controller = new AbortController();
    const running = native.scanPagesAsync?.(data, 4096, hashes, zeroBits, controller.signal);
    controller.abort(reason);
    await expect(running).rejects.toBe(reason);
  });

  it('stop a later scan when a signal shared by several scans is aborted', async () => {
    const controller = new AbortController();
    const page = new Uint8Array(4096);
    await native.hashPagesAsync?.(page, 4096, new BigUint64Array(1), controller.signal);
    const data = new Uint8Array(64 * MiB);
    const hashes = new BigUint64Array(data.length / 4096);
    const running = native.hashPagesAsync?.(data, 4096, hashes, controller.signal);
    controller.abort(new Error('stop'));
    await expect(running).rejects.toThrow('stop');
    expect(hashes[hashes.length - 1], 'the scan ran to the end').toBe(0n);
  });

  it('hash the pages a worker is not writing exactly while it writes another', async () => {
    const pageSize = 4096;
    const { data } = pageRun(pageSize, 2048, 'SharedArrayBuffer');
    const expected = scan(js, data, pageSize, 'ArrayBuffer');
    // control[0]: 1 asks the writer to stop; control[1]: passes it made over page 0.
    const control = new Int32Array(new SharedArrayBuffer(8));
    const writer = new Worker(
      `const { workerData: { data, control } } = require('node:worker_threads');
       for (let i = 1; Atomics.load(control, 0) === 0; i++) {
         data[i % 4096] = i;
         if (i % 4096 === 0) Atomics.add(control, 1, 1);
       }`,
      { eval: true, workerData: { data, control } },
    );
    try {
      while (Atomics.load(control, 1) === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      for (let round = 0; round < 20; round++) {
        const { hashes, zeroBits } = scan(native, data, pageSize, 'ArrayBuffer');
        expect(hashes.subarray(1)).toEqual(expected.hashes.subarray(1));
        expect(wordAt(zeroBits, 0) & ~1).toBe(wordAt(expected.zeroBits, 0) & ~1);
        expect(zeroBits.subarray(1)).toEqual(expected.zeroBits.subarray(1));
      }
      expect(Atomics.load(control, 1)).toBeGreaterThan(1);
    } finally {
      Atomics.store(control, 0, 1);
      await writer.terminate();
    }
  });

  it('check arguments in the addon itself too', () => {
    const addon = createRequire(import.meta.url)('@ferry/native') as {
      hashPages(data: unknown, pageSize: unknown, out: unknown): void;
      xxh64(data: unknown, seed?: unknown): bigint;
    };
    const out = new BigUint64Array(4);
    expect(() => addon.hashPages(new Uint8Array(4096), 1000, out)).toThrow(/multiple of pageSize/);
    expect(() => addon.hashPages(new Uint8Array(4096), 0.5, out)).toThrow(/pageSize/);
    expect(() => addon.hashPages(new Uint16Array(2048), 4096, out)).toThrow(/Uint8Array/);
    expect(() => addon.hashPages(new Uint8Array(4096 * 5), 4096, out)).toThrow(/shorter/);
    expect(() => addon.hashPages(new Uint8Array(4096), 4096, new Uint32Array(2))).toThrow(/BigUint64Array/);
    expect(() => addon.hashPages({}, 4096, out)).toThrow(/typed array/);
    expect(() => addon.xxh64(new Uint8Array(1), -1n)).toThrow(/seed/);
    expect(addon.xxh64(new Uint8Array(0), 0n)).toBe(0xef46_db37_51d8_e999n);
  });
});

describe('both kernels', () => {
  const kernelsUnderTest = async (): Promise<Kernels[]> => (nativeDisabled ? [js] : [js, await loadKernels({ native: true })]);

  const bad: [string, (k: Kernels) => unknown][] = [
    ['a page size of 0', (k) => k.hashPages(new Uint8Array(4096), 0, new BigUint64Array(1))],
    ['a fractional page size', (k) => k.hashPages(new Uint8Array(4096), 4095.5, new BigUint64Array(2))],
    ['a NaN page size', (k) => k.hashPages(new Uint8Array(4096), Number.NaN, new BigUint64Array(1))],
    ['a negative page size', (k) => k.hashPages(new Uint8Array(4096), -4096, new BigUint64Array(1))],
    ['a page size of 2^32', (k) => k.hashPages(new Uint8Array(0), 2 ** 32, new BigUint64Array(1))],
    ['data not a multiple of the page size', (k) => k.hashPages(new Uint8Array(4097), 4096, new BigUint64Array(2))],
    ['a hashes array shorter than the page count', (k) => k.hashPages(new Uint8Array(8192), 4096, new BigUint64Array(1))],
    ['hashes in a Uint32Array', (k) => k.hashPages(new Uint8Array(4096), 4096, new Uint32Array(2) as unknown as BigUint64Array)],
    ['data in a Uint16Array', (k) => k.hashPages(new Uint16Array(2048) as unknown as Uint8Array, 4096, new BigUint64Array(1))],
    [
      'a zero bitmap shorter than the page count / 32',
      (k) => k.scanPages(new Uint8Array(33 * 16), 16, new BigUint64Array(33), new Uint32Array(1)),
    ],
    [
      'a zero bitmap in a BigUint64Array',
      (k) => k.scanPages(new Uint8Array(16), 16, new BigUint64Array(1), new BigUint64Array(1) as unknown as Uint32Array),
    ],
    ['xxh64 of a string', (k) => k.xxh64('abc' as unknown as Uint8Array)],
  ];

  for (const [what, call] of bad) {
    it(`reject ${what} with a UsageError coded FERRY_INVALID_ARGUMENT`, async () => {
      for (const kernels of await kernelsUnderTest()) {
        let thrown: unknown;
        try {
          call(kernels);
        } catch (err) {
          thrown = err;
        }
        expect(thrown, kernels.name).toBeInstanceOf(UsageError);
        expect((thrown as UsageError).code).toBe(ErrorCode.INVALID_ARGUMENT);
      }
    });
  }

  it('write nothing when they reject a call', async () => {
    for (const kernels of await kernelsUnderTest()) {
      const hashes = new BigUint64Array(2).fill(7n);
      const zeroBits = new Uint32Array(1).fill(9);
      expect(() => kernels.scanPages(new Uint8Array(3 * 16), 16, hashes, zeroBits)).toThrow(UsageError);
      expect([...hashes, ...zeroBits]).toEqual([7n, 7n, 9]);
    }
  });
});

describe('loading the addon', () => {
  const saved = process.env[NO_NATIVE_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[NO_NATIVE_ENV];
    else process.env[NO_NATIVE_ENV] = saved;
  });

  it('is refused with FERRY_NATIVE_UNAVAILABLE when FERRY_NO_NATIVE=1', () => {
    process.env[NO_NATIVE_ENV] = '1';
    const result = loadNativeKernels();
    expect('error' in result).toBe(true);
    if (!('error' in result)) return;
    expect(result.error).toBeInstanceOf(FerryError);
    expect(result.error.code).toBe(ErrorCode.NATIVE_UNAVAILABLE);
    expect(result.error.message).toMatch(/FERRY_NO_NATIVE=1/);
  });

  it('gives the JS kernels when native is turned off', async () => {
    const kernels = await loadKernels({ native: false });
    expect(kernels.name).toBe('js');
    expect(await loadKernels({ native: false })).toBe(kernels);
  });

  it.skipIf(nativeDisabled)('succeeds without FERRY_NO_NATIVE, so CI runs the native kernels', () => {
    delete process.env[NO_NATIVE_ENV];
    const result = loadNativeKernels();
    if ('error' in result) throw result.error;
    expect(result.kernels.name).toBe('native');
  });

  it.runIf(nativeDisabled)('falls back to the JS kernels and says why when disabled', async () => {
    expect(nativeStatus()).toMatchObject({
      loaded: false,
      reason: expect.stringMatching(/FERRY_NO_NATIVE/),
    });
    expect((await loadKernels()).name).toBe('js');
    await expect(loadKernels({ native: true })).rejects.toMatchObject({
      code: ErrorCode.NATIVE_UNAVAILABLE,
    });
  });
});
