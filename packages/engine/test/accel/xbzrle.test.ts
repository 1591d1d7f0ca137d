import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import { beforeAll, describe, expect, it } from 'vitest';
import { createJsKernels, type Kernels, loadKernels, NO_NATIVE_ENV, XBZRLE_MAX_RUN } from '../../src/accel/index.ts';
import { ErrorCode, IntegrityError, UsageError } from '../../src/errors.ts';

// CI always builds the addon: without FERRY_NO_NATIVE=1 the native tests must run, and fail
// when it does not load, rather than skip.
const nativeDisabled = process.env[NO_NATIVE_ENV] === '1';

type Backing = 'SharedArrayBuffer' | 'ArrayBuffer';

function allocate(byteLength: number, backing: Backing): ArrayBufferLike {
  return backing === 'SharedArrayBuffer' ? new SharedArrayBuffer(byteLength) : new ArrayBuffer(byteLength);
}

function bytesOf(byteLength: number, backing: Backing = 'ArrayBuffer', byteOffset = 0): Uint8Array {
  return new Uint8Array(allocate(byteOffset + byteLength, backing), byteOffset, byteLength);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

function fromHex(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}

/** xorshift32, so every run tests the same bytes. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return s >>> 0;
  };
}

/** Encodes into an `out` of `capacity` bytes; the delta, or null for -1. */
function encode(kernels: Kernels, old: Uint8Array, cur: Uint8Array, capacity = 2 * cur.length + 16): Uint8Array | null {
  const out = new Uint8Array(capacity);
  const len = kernels.xbzrleEncode(old, cur, out);
  return len < 0 ? null : out.subarray(0, len);
}

/** `old` with `delta` applied, decoded in a copy. */
function decode(kernels: Kernels, delta: Uint8Array, old: Uint8Array): Uint8Array {
  const page = old.slice();
  kernels.xbzrleDecode(delta, page);
  return page;
}

/** Where each (zero run, literal run) pair of a valid delta ends: its valid prefixes. */
function pairEnds(delta: Uint8Array): number[] {
  const ends: number[] = [];
  const readLen = (at: number): [number, number] => {
    const low = delta[at]!;
    return low < 0x80 ? [low, at + 1] : [(low & 0x7f) | (delta[at + 1]! << 7), at + 2];
  };
  let at = 0;
  while (at < delta.length) {
    const [, next] = readLen(at);
    const [literal, from] = readLen(next);
    at = from + literal;
    ends.push(at);
  }
  return ends;
}

interface Golden {
  readonly name: string;
  readonly pageSize: number;
  /** Sets up the two pages, both zero-filled to start with. */
  readonly edit: (old: Uint8Array, cur: Uint8Array) => void;
  readonly delta: string;
}

/** Hand-verified: the hex beside each case is worked out in its comment. */
const GOLDEN: readonly Golden[] = [
  {
    name: 'an unchanged page is the empty delta',
    pageSize: 4096,
    edit: (o, c) => {
      o.fill(7);
      c.fill(7);
    },
    delta: '',
  },
  // zrun 0 (the first may be empty), nzrun 1, the byte.
  {
    name: 'a changed first byte',
    pageSize: 4096,
    edit: (_, c) => {
      c[0] = 0xab;
    },
    delta: '00 01 ab',
  },
  // zrun 2048 = 0x800: low 7 bits 0x00 | 0x80, then 0x800 >> 7 = 0x10.
  {
    name: 'a changed byte in the middle',
    pageSize: 4096,
    edit: (_, c) => {
      c[2048] = 0xab;
    },
    delta: '80 10 01 ab',
  },
  // zrun 4095 = 0xfff: 0x7f | 0x80, 0xfff >> 7 = 0x1f. The trailing zero run is never written.
  {
    name: 'a changed last byte',
    pageSize: 4096,
    edit: (_, c) => {
      c[4095] = 0xab;
    },
    delta: 'ff 1f 01 ab',
  },
  // QEMU docs/xbzrle.txt, "Example": zrun 1001 (e9 07), nzrun 15, zrun 3, nzrun 1, zrun 1, nzrun 1.
  {
    name: "the example in QEMU's XBZRLE docs",
    pageSize: 4096,
    edit: (o, c) => {
      o.set(fromHex('05060708090a0b0c0d0e0f10111213 68 0000 6b 00 6d'), 1001);
      c.set(fromHex('0102030405060708090a0b0c0d0e0f 68 0000 67 00 69'), 1001);
    },
    delta: 'e907 0f 0102030405060708090a0b0c0d0e0f 03 01 67 01 01 69',
  },
  // One unchanged byte between two changes is a zero run of 1, as QEMU's encoder writes it.
  {
    name: 'an unchanged byte between two changes',
    pageSize: 4096,
    edit: (_, c) => {
      c[0] = 1;
      c[2] = 2;
    },
    delta: '00 01 01 01 01 02',
  },
  // zrun 10, nzrun 200 = 0xc8: 0x48 | 0x80, 0xc8 >> 7 = 1.
  { name: 'a 200-byte changed run', pageSize: 4096, edit: (_, c) => c.fill(0x11, 10, 210), delta: `0a c801 ${'11'.repeat(200)}` },
  {
    name: 'a zero run of 127 bytes',
    pageSize: 4096,
    edit: (_, c) => {
      c[127] = 1;
    },
    delta: '7f 01 01',
  },
  {
    name: 'a zero run of 128 bytes',
    pageSize: 4096,
    edit: (_, c) => {
      c[128] = 1;
    },
    delta: '8001 01 01',
  },
  { name: 'a literal run of 127 bytes', pageSize: 4096, edit: (_, c) => c.fill(0xcc, 0, 127), delta: `00 7f ${'cc'.repeat(127)}` },
  { name: 'a literal run of 128 bytes', pageSize: 4096, edit: (_, c) => c.fill(0xcc, 0, 128), delta: `00 8001 ${'cc'.repeat(128)}` },
  // A wholly changed page: 1 + 2 + 4096 bytes.
  { name: 'a wholly changed page', pageSize: 4096, edit: (_, c) => c.fill(0xee), delta: `00 8020 ${'ee'.repeat(4096)}` },
  // 16383 = 0x3fff: ff 7f, the longest run a length can say.
  {
    name: 'a zero run of 16383 bytes',
    pageSize: 65536,
    edit: (_, c) => {
      c[16383] = 1;
    },
    delta: 'ff7f 01 01',
  },
  { name: 'a literal run of 16383 bytes', pageSize: 65536, edit: (_, c) => c.fill(1, 0, 16383), delta: `00 ff7f ${'01'.repeat(16383)}` },
  // Past 16383 the zero run stops and the literal run starts with the unchanged byte 16383.
  {
    name: 'a zero run of 16384 bytes',
    pageSize: 65536,
    edit: (_, c) => {
      c[16384] = 1;
    },
    delta: 'ff7f 02 0001',
  },
  {
    name: 'a zero run of 16385 bytes',
    pageSize: 65536,
    edit: (_, c) => {
      c[16385] = 1;
    },
    delta: 'ff7f 01 00 01 01 01',
  },
  // 40000 unchanged bytes: 16383 kept, 1 literal (byte 16383), 16383 kept, 1 literal (byte 32767),
  // then 40000 - 32768 = 7232 = 0x1c40 kept (c0 38), then the change.
  {
    name: 'a zero run of 40000 bytes',
    pageSize: 65536,
    edit: (_, c) => {
      c[40000] = 1;
    },
    delta: 'ff7f 01 00 ff7f 01 00 c038 01 01',
  },
];

let js: Kernels;
let kernelsUnderTest: Kernels[];

beforeAll(async () => {
  js = await createJsKernels();
  kernelsUnderTest = nativeDisabled ? [js] : [js, await loadKernels({ native: true })];
});

function goldenPages(golden: Golden): { old: Uint8Array; cur: Uint8Array } {
  const old = new Uint8Array(golden.pageSize);
  const cur = new Uint8Array(golden.pageSize);
  golden.edit(old, cur);
  return { old, cur };
}

describe('XBZRLE in both kernels', () => {
  for (const golden of GOLDEN) {
    it(`encode ${golden.name} as QEMU does, and decode it back`, () => {
      const { old, cur } = goldenPages(golden);
      const delta = fromHex(golden.delta);
      for (const kernels of kernelsUnderTest) {
        expect(hex(encode(kernels, old, cur) ?? new Uint8Array([0xde, 0xad])), kernels.name).toBe(hex(delta));
        expect(decode(kernels, delta, old), kernels.name).toEqual(cur);
      }
    });
  }

  it('give 67, 88 and 192 bytes for 64 changed bytes of a 4 KiB page: contiguous, 8 runs of 8, 64 single bytes', () => {
    const old = new Uint8Array(4096);
    const contiguous = old.slice();
    contiguous.fill(1, 1000, 1064); // e8 07, 40, 64 bytes
    const runs = old.slice();
    for (let r = 0; r < 8; r++) runs.fill(1, r * 512 + 256, r * 512 + 264); // 80 02, 08, 8 bytes; then 7 x (f8 03, 08, 8 bytes)
    const single = old.slice();
    for (let b = 0; b < 64; b++) single[b * 64 + 32] = 1; // 20 01 01, then 63 x (3f 01 01)
    for (const kernels of kernelsUnderTest) {
      expect(encode(kernels, old, contiguous)?.length, kernels.name).toBe(67);
      expect(encode(kernels, old, runs)?.length, kernels.name).toBe(88);
      expect(encode(kernels, old, single)?.length, kernels.name).toBe(192);
    }
  });

  it('return -1 when the delta does not fit in out, and its length when it just fits', () => {
    for (const golden of GOLDEN) {
      const { old, cur } = goldenPages(golden);
      const length = fromHex(golden.delta).length;
      for (const kernels of kernelsUnderTest) {
        expect(kernels.xbzrleEncode(old, cur, new Uint8Array(length)), `${kernels.name}: ${golden.name}`).toBe(length);
        if (length > 0) expect(kernels.xbzrleEncode(old, cur, new Uint8Array(length - 1)), kernels.name).toBe(-1);
      }
    }
    const old = new Uint8Array(4096);
    const cur = old.slice();
    for (let i = 0; i < 4096; i += 2) cur[i] = 1; // QEMU's own overflow test: every other byte
    for (const kernels of kernelsUnderTest) {
      expect(kernels.xbzrleEncode(old, cur, new Uint8Array(4096)), kernels.name).toBe(-1);
      expect(kernels.xbzrleEncode(old, cur, new Uint8Array(2048 * 3)), kernels.name).toBe(2048 * 3);
    }
  });

  it('return -1 for 16384 changed bytes in a row, which no run length can say, however large out is', () => {
    const old = new Uint8Array(65536);
    const cur = old.slice();
    cur.fill(1, 100, 100 + XBZRLE_MAX_RUN + 1);
    const out = new Uint8Array(1 << 20);
    for (const kernels of kernelsUnderTest) expect(kernels.xbzrleEncode(old, cur, out), kernels.name).toBe(-1);
  });

  it('decode the longer forms QEMU accepts but never writes: a 2-byte small length, a delta that stops early', () => {
    const old = new Uint8Array(16);
    for (const kernels of kernelsUnderTest) {
      expect(hex(decode(kernels, fromHex('8000 8100 05'), old)), kernels.name).toBe(`05${'00'.repeat(15)}`);
      expect(hex(decode(kernels, fromHex('03 01 07'), old)), kernels.name).toBe(`00000007${'00'.repeat(12)}`);
      expect(decode(kernels, new Uint8Array(0), old), kernels.name).toEqual(old);
    }
  });

  const malformed: [string, string][] = [
    ['a lone byte', '00'],
    ['a zero run and nothing else', '05'],
    ['a literal run length cut short', '00 01'],
    ['a literal run past the end of the delta', '00 02 01'],
    ['an empty literal run', '00 00 01'],
    ['an empty literal run in its 2-byte form', '00 8000 01'],
    ['a literal run past the end of the page', '10 01 01'],
    ['a zero run past the end of the page', '11 01 01'],
    ['a zero run of 16383 on a 16-byte page', 'ff7f 01 01'],
    ['an empty zero run after the first', '00 01 01 00 01 01'],
    ['a 3-byte run length', '808001 01 01'],
    ['a 5-byte run length', 'ffffffff0f 01 01'],
    ['a 6-byte run length', 'ffffffffff01 01 01'],
    ['a 3-byte literal run length', '00 818001 01'],
    ['a last run length cut to its first byte', '00 01 01 81'],
    ['one byte after the page is complete', `00 10 ${'aa'.repeat(16)} 01`],
    ['a run after the page is complete', `00 10 ${'aa'.repeat(16)} 01 01 bb`],
    ['an empty run after the page is complete', `00 10 ${'aa'.repeat(16)} 00 01 bb`],
  ];

  for (const [what, delta] of malformed) {
    it(`reject ${what} with an IntegrityError coded FERRY_DECODE_FAILED, writing nothing`, () => {
      const messages = new Set<string>();
      for (const kernels of kernelsUnderTest) {
        const { guarded, page } = guardedPage(16);
        const before = guarded.slice();
        const thrown = catchError(() => kernels.xbzrleDecode(fromHex(delta), page));
        expect(thrown, kernels.name).toBeInstanceOf(IntegrityError);
        expect((thrown as IntegrityError).code).toBe(ErrorCode.DECODE_FAILED);
        expect((thrown as IntegrityError).message).toMatch(/^invalid XBZRLE delta: .+ at delta byte \d+$/);
        messages.add((thrown as IntegrityError).message);
        expect(guarded, `${kernels.name} wrote the page or its guard bytes`).toEqual(before);
      }
      expect(messages.size, 'both kernels give the same reason and offset').toBe(1);
    });
  }

  it('reject every cut of a valid delta that does not end at a run pair, and apply those that do', () => {
    const random = rng(77);
    const deltas: { old: Uint8Array; delta: Uint8Array }[] = GOLDEN.filter((g) => g.pageSize === 4096).map((g) => ({
      old: goldenPages(g).old,
      delta: fromHex(g.delta),
    }));
    for (let n = 0; n < 4; n++) {
      const old = new Uint8Array(4096);
      const cur = old.slice();
      for (let k = 0; k < 12; k++) cur.fill(1 + k, random() % 4000, (random() % 4000) + (random() % 300));
      deltas.push({ old, delta: encode(js, old, cur)! });
    }
    for (const { old, delta } of deltas) {
      const valid = new Set([0, ...pairEnds(delta)]);
      for (let cut = 0; cut < delta.length; cut++) {
        const prefix = delta.subarray(0, cut);
        for (const kernels of kernelsUnderTest) {
          const { guarded, page } = guardedPage(4096);
          page.set(old);
          const before = guarded.slice();
          const thrown = catchError(() => kernels.xbzrleDecode(prefix, page));
          const where = `${kernels.name}: cut ${cut} of ${delta.length}`;
          if (valid.has(cut)) {
            expect(thrown, where).toBeUndefined();
            const guardsKept = guarded.every((b, i) => b === GUARD || (i >= GUARD_BYTES && i < GUARD_BYTES + 4096));
            if (!guardsKept) expect.fail(`${where} wrote a guard byte`);
          } else {
            if (!(thrown instanceof IntegrityError) || thrown.code !== ErrorCode.DECODE_FAILED) expect.fail(`${where}: ${String(thrown)}`);
            if (!equalBytes(guarded, before)) expect.fail(`${where} wrote after all`);
          }
        }
      }
    }
  });

  it('apply a delta to the last byte of a page inside a larger buffer without touching the bytes around it', () => {
    for (const kernels of kernelsUnderTest) {
      const { guarded, page } = guardedPage(4096);
      kernels.xbzrleDecode(fromHex(`00 8020 ${'ee'.repeat(4096)}`), page);
      expect(page.every((b) => b === 0xee)).toBe(true);
      expect(guarded.subarray(0, GUARD_BYTES).every((b) => b === GUARD)).toBe(true);
      expect(guarded.subarray(GUARD_BYTES + 4096).every((b) => b === GUARD)).toBe(true);
    }
  });

  const bad: [string, (k: Kernels) => unknown][] = [
    ['old and cur of different lengths', (k) => k.xbzrleEncode(new Uint8Array(4096), new Uint8Array(4095), new Uint8Array(10))],
    ['old in a Uint16Array', (k) => k.xbzrleEncode(new Uint16Array(8) as unknown as Uint8Array, new Uint8Array(16), new Uint8Array(10))],
    ['out in an Int8Array', (k) => k.xbzrleEncode(new Uint8Array(16), new Uint8Array(16), new Int8Array(10) as unknown as Uint8Array)],
    ['a delta in a string', (k) => k.xbzrleDecode('0001ab' as unknown as Uint8Array, new Uint8Array(16))],
    ['a page in a Uint8ClampedArray', (k) => k.xbzrleDecode(new Uint8Array(0), new Uint8ClampedArray(16) as unknown as Uint8Array)],
  ];

  for (const [what, call] of bad) {
    it(`reject ${what} with a UsageError coded FERRY_INVALID_ARGUMENT`, () => {
      for (const kernels of kernelsUnderTest) {
        const thrown = catchError(() => call(kernels));
        expect(thrown, kernels.name).toBeInstanceOf(UsageError);
        expect((thrown as UsageError).code).toBe(ErrorCode.INVALID_ARGUMENT);
      }
    });
  }
});

describe.skipIf(nativeDisabled)('XBZRLE in the native kernels', () => {
  let native: Kernels;

  beforeAll(async () => {
    native = await loadKernels({ native: true });
  });

  /**
   * Page pairs: scattered single-byte changes, contiguous runs, and a mix, some with a change
   * at the first or last byte; run lengths reach past 16383 on large pages.
   */
  function* pagePairs(pageSize: number, count: number, seed: number): Generator<{ old: Uint8Array; cur: Uint8Array; what: string }> {
    const random = rng(seed);
    for (let n = 0; n < count; n++) {
      const old = new Uint8Array(pageSize);
      for (let i = 0; i < pageSize; i++) old[i] = n % 3 === 0 ? 0 : random() & 0xff;
      const cur = old.slice();
      const kind = n % 3;
      const changes = 1 + (random() % (n % 2 === 0 ? 8 : 200));
      for (let k = 0; k < changes; k++) {
        const at = random() % pageSize;
        const maxRun = kind === 0 ? 1 : kind === 1 ? Math.min(pageSize, 20_000) : 40;
        const end = Math.min(pageSize, at + 1 + (random() % maxRun));
        for (let i = at; i < end; i++) cur[i] = (cur[i]! + 1 + (random() % 255)) & 0xff;
        if (kind === 1) break;
      }
      if (n % 5 === 0) cur[0] = old[0]! ^ 0x80;
      if (n % 7 === 0) cur[pageSize - 1] = old[pageSize - 1]! ^ 1;
      yield { old, cur, what: `${pageSize}-byte pair ${n} (${['scattered', 'contiguous', 'mixed'][kind]}, ${changes} changes)` };
    }
  }

  for (const backing of ['ArrayBuffer', 'SharedArrayBuffer'] as const) {
    for (const [pageSize, count] of [
      [4096, 600],
      [65536, 90],
    ] as const) {
      it(`encode ${pageSize}-byte pages of ${backing === 'ArrayBuffer' ? 'an' : 'a'} ${backing} to the JS kernels' bytes, and both decode both`, () => {
        for (const { old: plainOld, cur: plainCur, what } of pagePairs(pageSize, count, pageSize + count)) {
          const old = bytesOf(pageSize, backing);
          const cur = bytesOf(pageSize, backing);
          old.set(plainOld);
          cur.set(plainCur);
          for (const capacity of [pageSize, 2 * pageSize + 16]) {
            const fromNative = encode(native, old, cur, capacity);
            const fromJs = encode(js, old, cur, capacity);
            expect(fromNative === null ? null : hex(fromNative), what).toBe(fromJs === null ? null : hex(fromJs));
            if (fromJs === null) continue;
            const page = bytesOf(pageSize, backing);
            for (const [encoder, delta] of [
              ['native', fromNative!],
              ['js', fromJs],
            ] as const) {
              for (const decoder of [native, js]) {
                page.set(old);
                decoder.xbzrleDecode(delta, page);
                if (!equalBytes(page, cur)) expect.fail(`${what}: ${encoder} encode, ${decoder.name} decode`);
              }
            }
          }
        }
      });
    }
  }

  it('encode and decode views at every alignment, equally and differently aligned, to the same bytes', () => {
    const pairs = [...pagePairs(4096, 24, 5)];
    for (const [oldOffset, curOffset, outOffset] of [
      [1, 1, 0],
      [3, 3, 5],
      [0, 1, 2],
      [2, 7, 3],
      [4, 0, 1],
      [5, 6, 7],
    ] as const) {
      for (const { old: plainOld, cur: plainCur, what } of pairs) {
        const old = bytesOf(4096, 'SharedArrayBuffer', oldOffset);
        const cur = bytesOf(4096, 'ArrayBuffer', curOffset);
        old.set(plainOld);
        cur.set(plainCur);
        const expected = encode(js, plainOld, plainCur)!;
        for (const kernels of [native, js]) {
          const out = bytesOf(2 * 4096 + 16, 'SharedArrayBuffer', outOffset);
          const len = kernels.xbzrleEncode(old, cur, out);
          expect(hex(out.subarray(0, len)), `${kernels.name}: ${what} at ${oldOffset}/${curOffset}/${outOffset}`).toBe(hex(expected));
          const delta = bytesOf(len, 'SharedArrayBuffer', outOffset);
          delta.set(expected);
          const page = bytesOf(4096, 'SharedArrayBuffer', oldOffset);
          page.set(plainOld);
          kernels.xbzrleDecode(delta, page);
          expect(equalBytes(page, plainCur), `${kernels.name} decode: ${what}`).toBe(true);
        }
      }
    }
  });

  it('encode a page a worker is writing into a delta that decodes to the page with only those bytes uncertain', async () => {
    const old = new Uint8Array(4096);
    const cur = bytesOf(4096, 'SharedArrayBuffer');
    for (let i = 0; i < 4096; i += 97) cur[i] = 1 + (i & 0x7f);
    const control = new Int32Array(new SharedArrayBuffer(8));
    const writer = new Worker(
      `const { workerData: { cur, control } } = require('node:worker_threads');
       for (let i = 1; Atomics.load(control, 0) === 0; i++) {
         cur[1000 + (i % 64)] = i;
         if (i % 64 === 0) Atomics.add(control, 1, 1);
       }`,
      { eval: true, workerData: { cur, control } },
    );
    try {
      while (Atomics.load(control, 1) === 0) await new Promise((resolve) => setTimeout(resolve, 1));
      const out = new Uint8Array(8192);
      for (let round = 0; round < 200; round++) {
        const len = native.xbzrleEncode(old, cur, out);
        expect(len).toBeGreaterThan(0);
        const page = old.slice();
        native.xbzrleDecode(out.subarray(0, len), page);
        for (let i = 0; i < 4096; i++) {
          if (i >= 1000 && i < 1064) continue;
          if (page[i] !== cur[i]) expect.fail(`byte ${i}: ${page[i]} != ${cur[i]}`);
        }
      }
    } finally {
      Atomics.store(control, 0, 1);
      await writer.terminate();
    }
  });

  it('check arguments in the addon itself too, and say why it rejects a delta', () => {
    const addon = createRequire(import.meta.url)('@ferry/native') as {
      xbzrleEncode(old: unknown, cur: unknown, out: unknown): number;
      xbzrleDecode(delta: unknown, page: unknown): void;
    };
    expect(() => addon.xbzrleEncode(new Uint8Array(2), new Uint8Array(3), new Uint8Array(8))).toThrow(/same byteLength/);
    expect(() => addon.xbzrleEncode(new Uint8Array(2), new Uint16Array(1), new Uint8Array(8))).toThrow(/Uint8Array/);
    expect(() => addon.xbzrleDecode({}, new Uint8Array(8))).toThrow(/typed array/);
    expect(() => addon.xbzrleDecode(fromHex('00 01'), new Uint8Array(8))).toThrow(
      'invalid XBZRLE delta: fewer than 2 bytes left for a run at delta byte 1',
    );
    expect(addon.xbzrleEncode(new Uint8Array(2), new Uint8Array([0, 9]), new Uint8Array(3))).toBe(3);
  });

  it('keep what the addon threw as the cause of the IntegrityError', () => {
    const thrown = catchError(() => native.xbzrleDecode(fromHex('00 00 01'), new Uint8Array(16)));
    expect(thrown).toBeInstanceOf(IntegrityError);
    expect((thrown as IntegrityError).cause).toBeInstanceOf(Error);
    expect((thrown as IntegrityError).message).toBe(((thrown as IntegrityError).cause as Error).message);
  });
});

const GUARD = 0x5a;
const GUARD_BYTES = 64;

/** A page in the middle of a SharedArrayBuffer whose other bytes are all `GUARD`. */
function guardedPage(pageSize: number): { guarded: Uint8Array; page: Uint8Array } {
  const guarded = bytesOf(pageSize + 2 * GUARD_BYTES, 'SharedArrayBuffer').fill(GUARD);
  const page = guarded.subarray(GUARD_BYTES, GUARD_BYTES + pageSize);
  page.fill(0);
  return { guarded, page };
}

function catchError(call: () => unknown): unknown {
  try {
    call();
  } catch (err) {
    return err;
  }
  return undefined;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
