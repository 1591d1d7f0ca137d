/**
 * Every decoder and codec of the protocol, as fast-check properties: whatever bytes arrive,
 * each returns a value or throws a FerryError (never a RangeError, a TypeError or anything
 * else), holds no more memory than its limits allow, and a batch that fails changes nothing.
 * The targets reach internal decoders by path: they are not public API.
 */
import fc from 'fast-check';
import {
  DirtyBitmap,
  FerryError,
  FrameReader,
  GuestMemory,
  type Kernels,
  limits,
  loadKernels,
  MessageType,
  PageBatch,
} from '@ferry/engine';
import { BatchDecoder } from '../../../engine/src/codec/batch-decoder.ts';
import { lz4CompressPage, lz4DecompressPage } from '../../../engine/src/codec/lz4.ts';
import { decode, encode, Msg, type MessageName } from '../../../engine/src/protocol/registry.ts';
import { DeviceStateAssembler } from '../../../engine/src/session/device-state.ts';
import { MissingPageMap } from '../../../engine/src/session/missing-map.ts';
import { seal } from './frame-seal.ts';
import { mutate, mutatedArb, mutationsArb, pagesBody, samplePage, validBatch } from './fuzz-inputs.ts';
import { Rng } from './rng.ts';
import { sampleFrame } from './sample-frames.ts';

/** Inputs and a check that throws when a case breaks the rules (sync or async). */
export interface FuzzCheck {
  readonly arbitrary: fc.Arbitrary<unknown[]>;
  readonly predicate: (inputs: unknown[]) => void | Promise<void>;
  readonly async: boolean;
}

export interface FuzzTarget extends FuzzCheck {
  readonly name: string;
  /** Relative share of the cases (the slower targets get fewer). */
  readonly weight: number;
  /** At most this many cases whatever the total (a target whose every case is large). */
  readonly maxCases?: number;
}

/** Like `fc.property`: arbitraries then a predicate over their values. */
function sync<Ts extends [unknown, ...unknown[]]>(
  ...args: [...arbitraries: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> }, predicate: (...inputs: Ts) => void]
): FuzzCheck {
  const predicate = args.at(-1) as (...inputs: Ts) => void;
  const arbitraries = args.slice(0, -1) as fc.Arbitrary<unknown>[];
  return { arbitrary: fc.tuple(...arbitraries), predicate: (inputs) => predicate(...(inputs as Ts)), async: false };
}

function async<Ts extends [unknown, ...unknown[]]>(
  ...args: [...arbitraries: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> }, predicate: (...inputs: Ts) => Promise<void>]
): FuzzCheck {
  const predicate = args.at(-1) as (...inputs: Ts) => Promise<void>;
  const arbitraries = args.slice(0, -1) as fc.Arbitrary<unknown>[];
  return { arbitrary: fc.tuple(...arbitraries), predicate: (inputs) => predicate(...(inputs as Ts)), async: true };
}

/** The fast-check property of a check: it fails on the first case that breaks the rules. */
export function propertyOf(c: FuzzCheck): fc.IRawProperty<[unknown[]]> {
  return c.async
    ? fc.asyncProperty(c.arbitrary, async (inputs) => c.predicate(inputs))
    : fc.property(c.arbitrary, (inputs) => void c.predicate(inputs));
}

/** Thrown by a property when a decoder threw something that is not a FerryError. */
export class NotFerryError extends Error {}

/** Runs `f`; a FerryError is an answer, anything else fails the property. */
function onlyFerry<T>(what: string, f: () => T): T | undefined {
  try {
    return f();
  } catch (err) {
    if (err instanceof FerryError) return undefined;
    throw new NotFerryError(`${what} threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
}

async function onlyFerryAsync<T>(what: string, f: () => Promise<T>): Promise<T | undefined> {
  try {
    return await f();
  } catch (err) {
    if (err instanceof FerryError) return undefined;
    throw new NotFerryError(`${what} threw ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`);
  }
}

const PAGE = 4096;
const CTX_REGIONS = [
  { name: 'ram0', sizeBytes: 32 * PAGE },
  { name: 'ram1', sizeBytes: 40 * PAGE },
];

/** Whether this engine's frame reader has the checksum modes of protocol version 3. */
function setChecks(reader: FrameReader, mode: string): void {
  if ('checks' in reader) Reflect.set(reader, 'checks', mode);
}

export async function fuzzTargets(): Promise<FuzzTarget[]> {
  const native = await loadKernels();
  const js = await loadKernels({ native: false });
  const ctx = { sessionId: new Uint8Array(16).fill(7), regions: CTX_REGIONS, pageSize: PAGE, xxh64: (d: Uint8Array) => native.xxh64(d) };
  const types = Object.values(MessageType);
  const validFrame = (seed: number): Uint8Array => {
    const rng = new Rng(seed);
    const frame = sampleFrame(rng.pick(types), rng, ctx);
    return rng.chance(0.5) ? seal(frame) : frame;
  };
  const targets: FuzzTarget[] = [];

  // The frame reader: a stream of (mostly valid) frames, mutated, cut into chunks anywhere.
  targets.push({
    name: 'frame-reader',
    weight: 2,
    ...sync(
      fc.array(fc.integer(), { minLength: 1, maxLength: 4 }),
      mutationsArb,
      fc.array(fc.nat(), { maxLength: 6 }),
      fc.constantFrom(limits.MAX_HELLO_BODY_BYTES, limits.MAX_FRAME_BODY_BYTES, 64),
      fc.constantFrom('off', 'auto', 'required'),
      (seeds, mutations, cuts, maxBodyBytes, checks) => {
        const stream = mutate(Buffer.concat(seeds.map(validFrame)), mutations);
        const reader = new FrameReader(maxBodyBytes);
        setChecks(reader, checks);
        const points = [...new Set(cuts.map((c) => c % (stream.byteLength + 1)))].sort((a, b) => a - b);
        let from = 0;
        for (const to of [...points, stream.byteLength]) {
          if (onlyFerry('FrameReader.push', () => reader.push(stream.subarray(from, to))) === undefined && to > from) return;
          if (reader.buffered > maxBodyBytes + limits.FRAME_HEADER_BYTES + 4)
            throw new Error(`reader holds ${reader.buffered} bytes, limit ${maxBodyBytes}`);
          from = to;
        }
        onlyFerry('FrameReader.end', () => reader.end());
      },
    ),
  });

  // Every message of the registry: its body decoded; what decodes encodes again and decodes the same.
  for (const name of Object.keys(Msg) as MessageName[]) {
    const spec = Msg[name];
    targets.push({
      name: `message/${name}`,
      weight: 1,
      ...sync(
        mutatedArb((seed) => sampleFrame(spec.type, new Rng(seed), ctx).subarray(limits.FRAME_HEADER_BYTES)),
        (body) => {
          const value = onlyFerry(`decode ${name}`, () => decode(spec as (typeof Msg)['HELLO'], { type: spec.type, body }));
          if (value === undefined) return;
          const again = onlyFerry(`encode ${name}`, () => encode(spec as (typeof Msg)['HELLO'], value));
          if (again === undefined) throw new Error(`${name}: a decoded value does not encode`);
          const twice = onlyFerry(`decode ${name} again`, () =>
            decode(spec as (typeof Msg)['HELLO'], { type: spec.type, body: again.subarray(limits.FRAME_HEADER_BYTES) }),
          );
          if (twice === undefined) throw new Error(`${name}: a re-encoded value does not decode`);
        },
      ),
    });
  }

  // PageBatch: the batch header and entry table checked whole.
  const held32 = Array.from({ length: 32 }, (_, p) => samplePage(PAGE, 0x5eed + p));
  targets.push({
    name: 'page-batch',
    weight: 1,
    ...sync(
      mutatedArb((seed) => validBatch(native, PAGE, 0, held32, [1, 2, 3], seed), 1024),
      fc.constantFrom(4096, 8192, 65536),
      (body, pageSize) => {
        const batch = onlyFerry('new PageBatch', () => new PageBatch(body, pageSize));
        if (batch) for (let i = 0; i < batch.count; i++) batch.checksum(i);
      },
    ),
  });

  // The batch decoder against memory that holds some pages: only FerryError, and a batch that
  // fails leaves memory exactly as it was.
  const decoderCase = (kernels: Kernels) =>
    sync(fc.integer(), mutationsArb, fc.nat(1), (seed, mutations, region) => {
      const memory = GuestMemory.create({ regions: CTX_REGIONS });
      const decoder = new BatchDecoder(memory, kernels, true);
      const rng = new Rng(seed);
      const received: number[] = [];
      const held: Uint8Array[] = Array.from({ length: memory.regions[region]!.pageCount }, () => new Uint8Array(PAGE));
      const first = Array.from({ length: rng.int(1, 8) }, () => rng.int(0, held.length - 1));
      const entries = [...new Set(first)].map((page) => {
        const content = samplePage(PAGE, rng.next());
        held[page] = content;
        received.push(page);
        return { page, encoding: 0x01, payload: content, checksum: kernels.xxh64(content) };
      });
      decoder.apply(new PageBatch(pagesBody({ region, round: 0, entries }), PAGE));
      const body = mutate(validBatch(kernels, PAGE, region, held, received, rng.next()), mutations);
      const before = memory.regions.map((r) => Buffer.from(r.bytes));
      const batch = onlyFerry('new PageBatch', () => new PageBatch(body, PAGE));
      if (!batch) return;
      let ok = true;
      onlyFerry('BatchDecoder.apply', () => {
        ok = false;
        decoder.apply(batch);
        ok = true;
      });
      if (!ok && !memory.regions.every((r, i) => before[i]!.equals(r.bytes))) throw new Error('a batch that failed changed memory');
    });
  targets.push({ name: 'batch-decoder/native', weight: 2, ...decoderCase(native) });
  targets.push({ name: 'batch-decoder/js', weight: 1, ...decoderCase(js) });

  // One frame's worth of entries must not make the decoder hold more than a bounded multiple of
  // the frame: entries that decode to whole pages (XBZRLE "unchanged", DEDUP) cost 20 to 28
  // bytes on the wire and a page of scratch each.
  targets.push({
    name: 'batch-decoder/bounded',
    weight: 0.05,
    maxCases: 40,
    ...sync(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom(0x04, 0x05), (count, encoding) => {
      const memory = GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 16 * PAGE }] });
      const decoder = new BatchDecoder(memory, native, true);
      const zero = native.xxh64(new Uint8Array(PAGE));
      decoder.apply(
        new PageBatch(
          pagesBody({ region: 0, round: 0, entries: [{ page: 0, encoding: 0x02, payload: new Uint8Array(0), checksum: zero }] }),
          PAGE,
        ),
      );
      const ref = Buffer.alloc(8);
      const entries = Array.from({ length: count }, () => ({
        page: 1,
        encoding,
        payload: encoding === 0x05 ? ref : new Uint8Array(0),
        checksum: zero,
      }));
      const body = pagesBody({ region: 0, round: 1, entries });
      const before = process.memoryUsage().arrayBuffers;
      onlyFerry('BatchDecoder.apply', () => decoder.apply(new PageBatch(body, PAGE)));
      const grew = process.memoryUsage().arrayBuffers - before;
      const bound = 16 * 2 ** 20 + 16 * body.byteLength;
      if (grew > bound)
        throw new Error(`a ${body.byteLength}-byte batch of ${count} entries made the decoder hold ${grew} more bytes (bound ${bound})`);
    }),
  });

  // XBZRLE deltas, native and TypeScript: checked whole before anything is written.
  for (const kernels of [native, js]) {
    targets.push({
      name: `xbzrle-decode/${kernels.name}`,
      weight: 1,
      ...sync(fc.integer(), mutationsArb, fc.constantFrom(4096, 8192), (seed, mutations, pageSize) => {
        const rng = new Rng(seed);
        const old = samplePage(pageSize, rng.next());
        const cur = Uint8Array.from(old);
        for (let k = rng.int(0, 40); k > 0; k--) cur[rng.int(0, pageSize - 1)] = rng.int(0, 255);
        const out = new Uint8Array(pageSize);
        const n = kernels.xbzrleEncode(old, cur, out);
        const delta = mutate(rng.chance(0.1) ? rng.bytes(rng.int(0, 300)) : out.subarray(0, Math.max(0, n)), mutations);
        const page = Uint8Array.from(old);
        let ok = false;
        onlyFerry('xbzrleDecode', () => {
          kernels.xbzrleDecode(delta, page);
          ok = true;
        });
        if (page.byteLength !== pageSize) throw new Error('the page changed size');
        if (!ok && !Buffer.from(page).equals(Buffer.from(old))) throw new Error('a delta that failed changed the page');
      }),
    });
  }

  // LZ4 pages: the size prefix checked before lz4-napi allocates; exactly a page out.
  targets.push({
    name: 'lz4-page-decode',
    weight: 1,
    ...sync(
      mutatedArb((seed) => lz4CompressPage(samplePage(PAGE, seed)), 600),
      fc.constantFrom(4096, 8192),
      (payload, pageSize) => {
        const page = onlyFerry('lz4DecompressPage', () => lz4DecompressPage(payload, pageSize));
        if (page && page.byteLength !== pageSize) throw new Error(`decoded ${page.byteLength} bytes, page size ${pageSize}`);
      },
    ),
  });

  // The missing-page map: one message against a layout, and a reconnection's whole map.
  const layout = { pageSize: PAGE, regions: CTX_REGIONS };
  const missingBody = (seed: number): Uint8Array => {
    const rng = new Rng(seed);
    const region = rng.int(0, 1);
    const bits = new DirtyBitmap(CTX_REGIONS[region]!.sizeBytes / PAGE);
    for (let k = rng.int(0, 20); k > 0; k--) bits.set(rng.int(0, bits.bitCount - 1));
    const { frames } = MissingPageMap.encode('POSTCOPY_MISSING', region === 0 ? [bits, new DirtyBitmap(40)] : [new DirtyBitmap(32), bits]);
    return (frames[0] ?? sampleFrame(MessageType.POSTCOPY_MISSING, rng, ctx)).subarray(limits.FRAME_HEADER_BYTES);
  };
  targets.push({
    name: 'missing-page-map',
    weight: 1,
    ...sync(
      mutatedArb(missingBody),
      fc.constantFrom('POSTCOPY_MISSING', 'RECOVER_MISSING') as fc.Arbitrary<'POSTCOPY_MISSING'>,
      (body, kind) => {
        const part = onlyFerry('MissingPageMap.decode', () => MissingPageMap.decode(kind, { type: Msg[kind].type, body }, layout));
        if (part && part.firstPage + part.pages.bitCount > CTX_REGIONS[part.region]!.sizeBytes / PAGE)
          throw new Error('a part past its region');
      },
    ),
  });
  targets.push({
    name: 'missing-page-map/read',
    weight: 0.5,
    ...async(fc.array(mutatedArb(missingBody), { maxLength: 4 }), fc.nat(200), async (bodies, total) => {
      const frames = [
        ...bodies.map((body) => ({ type: MessageType.RECOVER_MISSING, body })),
        { type: MessageType.RECOVER_END, body: encode(Msg.RECOVER_END, { missingPages: total }).subarray(limits.FRAME_HEADER_BYTES) },
      ];
      let i = 0;
      await onlyFerryAsync('MissingPageMap.read', () =>
        MissingPageMap.read(layout, 'RECOVER_MISSING', async () => {
          const f = frames[i++];
          if (!f) throw new FerryError('FERRY_CONNECTION_LOST', 'no more frames');
          return f;
        }),
      );
    }),
  });

  // Device state as the destination takes it: DEVICE_STATE bodies decoded, then put together,
  // bounded before anything is allocated. (The assembler's input is what the codec lets through:
  // a chunk never runs past its declared total.)
  const chunkBody = (seed: number): Uint8Array => {
    const rng = new Rng(seed);
    const total = rng.pick([0, 1, 16, 600, 4096]);
    const offset = rng.int(0, total);
    return encode(Msg.DEVICE_STATE, { totalBytes: total, offset, data: rng.bytes(rng.int(0, total - offset)) }).subarray(
      limits.FRAME_HEADER_BYTES,
    );
  };
  targets.push({
    name: 'device-state',
    weight: 1,
    ...sync(
      fc.constantFrom(0, 16, 4096, 1 << 20),
      fc.array(mutatedArb(chunkBody, 64), { minLength: 1, maxLength: 5 }),
      (limitBytes, bodies) => {
        const assembler = new DeviceStateAssembler(limitBytes);
        for (const body of bodies) {
          const chunk = onlyFerry('decode DEVICE_STATE', () => decode(Msg.DEVICE_STATE, { type: MessageType.DEVICE_STATE, body }));
          if (chunk === undefined || onlyFerry('DeviceStateAssembler.add', () => assembler.add(chunk)) === undefined) return;
        }
        if (assembler.bytes.byteLength > limitBytes) throw new Error('the assembler holds more than its limit');
      },
    ),
  });

  // Run-length bitmaps (the missing-page map's body).
  targets.push({
    name: 'bitmap-runs',
    weight: 1,
    ...sync(
      fc.oneof(fc.nat(5000), fc.constantFrom(0, 1, 31, 32, 33, 1 << 20)),
      mutatedArb((seed) => {
        const rng = new Rng(seed);
        const b = new DirtyBitmap(rng.int(0, 3000));
        for (let k = rng.int(0, 30); k > 0 && b.bitCount > 0; k--) b.set(rng.int(0, b.bitCount - 1));
        return b.toRuns();
      }, 64),
      (bitCount, runs) => {
        const b = onlyFerry('DirtyBitmap.fromRuns', () => DirtyBitmap.fromRuns(bitCount, runs));
        if (b && b.bitCount !== bitCount) throw new Error('a bitmap of another size');
      },
    ),
  });
  return targets;
}
