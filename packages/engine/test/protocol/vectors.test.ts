import { readFileSync } from 'node:fs';
import net from 'node:net';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createJsKernels } from '../../src/accel/index.ts';
import { BatchDecoder } from '../../src/codec/batch-decoder.ts';
import { GuestMemory } from '../../src/memory/guest-memory.ts';
import { PROTOCOL_VERSION } from '../../src/protocol/constants.ts';
import { FrameReader } from '../../src/protocol/frame-reader.ts';
import { PageBatch } from '../../src/protocol/pages.ts';
import { decode, encode, Msg, type MessageName, type MessageSpec, specOf } from '../../src/protocol/registry.ts';
import { authProof } from '../../src/transport/psk-auth.ts';
import { sealFrame } from '../../src/protocol/frame-check.ts';
import { BYTE_FIELDS, type DescribedPage, fromJson, pageBytes, toJson } from './vectors/content.ts';
import type { InvalidVector } from './vectors/invalid.ts';
import { engineFields, isSealed, type MessageVector, specFields } from './vectors/messages.ts';
import type { PagesVector } from './vectors/pages.ts';
import { VECTORS_DIR, vectorFiles } from './vectors-gen.ts';
import { sourceHost } from '../harness/index.ts';

/**
 * The golden vectors other implementations run (packages/conformance/vectors): each decodes with
 * the engine to its stated fields or fails with its stated code, and each valid one re-encodes to
 * the same bytes. Vectors of a later version than the engine speaks wait (`requires`).
 */
const read = <T>(name: string): T => JSON.parse(readFileSync(`${VECTORS_DIR}${name}`, 'utf8')) as T;
const bytesOf = (hex: string): Buffer => Buffer.from(hex, 'hex');
const speaks = (v: { requires?: number }): boolean => (v.requires ?? 0) <= PROTOCOL_VERSION;
/** One whole frame read back as the engine's reader does (sealed ones from version 3 on). */
function readFrame(hex: string, checked: boolean) {
  const reader = new FrameReader(16 * 1024 * 1024);
  reader.checks = checked ? 'required' : 'off';
  const frames = reader.push(bytesOf(hex));
  expect(frames).toHaveLength(1);
  return frames[0]!;
}

/**
 * A HELLO_ACCEPT vector checked by today's source: a scripted destination answers its HELLO
 * (which offers no CHANNELS, as the vectors' `helloFeatures` do not) with the vector's bytes.
 */
async function answerSource(hex: string): Promise<void> {
  const server = net.createServer((socket) => {
    socket.once('data', () => socket.write(bytesOf(hex)));
    socket.on('error', () => {});
  });
  onTestFinished(() => void server.close());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const source = await sourceHost({ memory: GuestMemory.create({ regions: [{ name: 'ram0', sizeBytes: 4 * 4096 }] }) });
  await source.migrateTo((server.address() as net.AddressInfo).port, { strategy: 'hybrid', handshakeTimeoutMs: 5_000 });
}

describe('golden vectors (packages/conformance/vectors)', () => {
  it('are exactly what vectors-gen.ts writes (regenerate: npx tsx packages/engine/test/protocol/vectors-gen.ts)', async () => {
    for (const [name, text] of Object.entries(await vectorFiles())) expect(readFileSync(`${VECTORS_DIR}${name}`, 'utf8'), name).toBe(text);
  });

  const messages = read<{ vectors: MessageVector[] }>('messages.json').vectors;
  it('cover every message type', () => {
    const covered = new Set(messages.map((v) => v.message));
    for (const name of Object.keys(Msg)) if (name !== 'PAGES') expect(covered.has(name as MessageName), name).toBe(true);
  });

  for (const v of messages) {
    it.skipIf(!speaks(v))(`${v.name}: decodes to its fields and re-encodes to its bytes`, () => {
      const sealed = isSealed(v.message, v.version);
      const frame = readFrame(v.hex, sealed);
      const m = specOf(frame.type);
      expect(m.name).toBe(v.message);
      const decoded = decode(m, frame);
      expect(specFields(m.name, toJson(decoded))).toEqual(v.fields);
      const value = m.name === 'PROBE_DATA' ? bytesOf(v.fields as string) : fromJson(engineFields(m.name, v.fields), BYTE_FIELDS);
      let again = encode(m, value as never);
      if (sealed) again = Buffer.concat([again, sealFrame(again)]);
      expect(again.toString('hex')).toBe(v.hex);
    });
  }

  const invalid = read<{ vectors: InvalidVector[] }>('invalid.json').vectors;
  for (const v of invalid) {
    it.skipIf(!speaks(v))(`${v.name}: fails with ${v.error}`, async () => {
      let code: string | undefined;
      try {
        if (v.check === 'hello-accept') await answerSource(v.hex);
        else if (v.check === 'frame') {
          const reader = new FrameReader(v.maxBodyBytes ?? 65536);
          reader.checks = v.checks ?? 'off';
          reader.push(bytesOf(v.hex));
        } else {
          const frame = readFrame(v.hex, false);
          decode(Msg[v.message!] as MessageSpec<unknown>, frame);
        }
      } catch (err) {
        code = (err as { code?: string }).code;
      }
      expect(code).toBe(v.error);
    });
  }

  const encodings = read<{
    guest: { pageSize: number; regions: { name: string; sizeBytes: number }[] };
    before: DescribedPage[];
    vectors: PagesVector[];
  }>('encodings.json');
  for (const v of encodings.vectors) {
    // `pending`: the spec states it; the engine is being changed to match (the reason says how).
    it.skipIf(v.pending !== undefined || !speaks(v))(
      `PAGES ${v.name}: ${v.error ? `fails with ${v.error} and writes nothing` : 'decodes to its pages'}`,
      async () => {
        const kernels = await createJsKernels();
        const memory = GuestMemory.create(encodings.guest);
        const decoder = new BatchDecoder(memory, kernels, true);
        if (v.announced !== undefined) decoder.allowedEncodings = v.announced;
        // What the receiver held: the pages received before, as a batch of RAW pages would leave them.
        for (const p of encodings.before) {
          memory.page(p.region, p.page).set(pageBytes(p.content, memory.pageSize));
          decoder.received[p.region]!.set(p.page);
        }
        const snapshot = Buffer.from(memory.region(0).bytes);
        let code: string | undefined;
        try {
          const frame = readFrame(v.hex, false);
          const batch = new PageBatch(frame.body, memory.pageSize);
          expect(toJson({ region: batch.regionIndex, round: batch.round })).toMatchObject({
            region: (v.fields as { region: number }).region,
          });
          decoder.apply(batch);
        } catch (err) {
          code = (err as { code?: string }).code;
        }
        expect(code).toBe(v.error);
        if (v.error) {
          expect(Buffer.compare(Buffer.from(memory.region(0).bytes), snapshot)).toBe(0);
          return;
        }
        v.after!.forEach((p, i) => {
          const page = memory.page(p.region, p.page);
          expect(Buffer.compare(Buffer.from(page), pageBytes(p.content, memory.pageSize)), `${p.region}:${p.page}`).toBe(0);
          expect(toJson(kernels.xxh64(page))).toBe(v.afterXxh64![i]);
        });
      },
    );
  }

  it('psk.json: both MACs follow from the key, the nonces and the HELLO', () => {
    const t = read<{
      key: string;
      sessionId: string;
      ns: string;
      nd: string;
      sourceMac: string;
      destinationMac: string;
      frames: { message: string; hex: string }[];
    }>('psk.json');
    const hello = bytesOf(t.frames[0]!.hex).subarray(8);
    const [key, sid, ns, nd] = [t.key, t.sessionId, t.ns, t.nd].map(bytesOf) as [Buffer, Buffer, Buffer, Buffer];
    expect(authProof(key, 'destination', sid, hello, ns, nd).toString('hex')).toBe(t.destinationMac);
    expect(authProof(key, 'source', sid, hello, ns, nd).toString('hex')).toBe(t.sourceMac);
    const challenge = decode(Msg.AUTH_CHALLENGE, readFrame(t.frames[2]!.hex, false));
    expect(toJson(challenge)).toEqual({ nonce: t.nd, mac: t.destinationMac });
  });
});
