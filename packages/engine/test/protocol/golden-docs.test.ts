import { beforeAll, describe, expect, it } from 'vitest';
import { createJsKernels, type Kernels } from '../../src/accel/index.ts';
import { FrameReader } from '../../src/protocol/frame-reader.ts';
import { decodeBody, encodeFrame } from '../../src/protocol/frame.ts';
import { FRAME_HEADER_BYTES, MAX_FRAME_BODY_BYTES } from '../../src/protocol/limits.ts';
import { PageBatch } from '../../src/protocol/pages.ts';
import { specOf } from '../../src/protocol/registry.ts';
import { MessageType, PageEncoding } from '../../src/index.ts';
import { goldenFrames, protocolDoc } from './golden-doc.ts';

/**
 * Every golden frame in docs/protocol.md (golden-doc.ts reads them), checked to be well formed,
 * decoded, encoded back to the same bytes, and fed to the frame reader split at every byte.
 * golden.test.ts checks the other direction: the documented values encode to these bytes.
 */

/** What a reader gives for `chunks`: each frame's type and body, copied as it comes out. */
function read(chunks: readonly Uint8Array[]): { type: number; body: string }[] {
  const reader = new FrameReader(MAX_FRAME_BODY_BYTES);
  const out: { type: number; body: string }[] = [];
  for (const c of chunks) for (const f of reader.push(c)) out.push({ type: f.type, body: Buffer.from(f.body).toString('hex') });
  reader.end(); // nothing left over inside a frame
  expect(reader.buffered).toBe(0);
  return out;
}

const asRead = (bytes: Buffer): { type: number; body: string } => ({
  type: bytes[4]!,
  body: bytes.subarray(FRAME_HEADER_BYTES).toString('hex'),
});

const PAGE_SIZE = 4096;
const golden = goldenFrames(protocolDoc);
let kernels: Kernels;
beforeAll(async () => {
  kernels = await createJsKernels();
});

describe('the golden frames in docs/protocol.md', () => {
  it('are there, each under its own name', () => {
    expect(golden.length).toBeGreaterThanOrEqual(7);
    expect(new Set(golden.map((g) => g.name)).size).toBe(golden.length);
    // Each one golden.test.ts encodes is among them.
    expect(golden.map((g) => g.name)).toEqual(
      expect.arrayContaining(['hello', 'pages', 'hello-reject', 'complete', 'echo', 'page-request', 'postcopy-missing']),
    );
  });

  describe.each(golden.map((g) => [g.name, g] as const))('%s', (_name, { bytes }) => {
    it('decodes with its message codec and encodes back to the same bytes', () => {
      const spec = specOf(bytes[4] as MessageType);
      const body = bytes.subarray(FRAME_HEADER_BYTES);
      const value = decodeBody(spec.codec, body);
      expect(encodeFrame(spec.type, spec.codec, value).equals(bytes)).toBe(true);
    });

    if (bytes[4] === MessageType.PAGES) {
      it('is a PAGES batch whose every checksum is xxh64 of the page it carries', () => {
        const batch = new PageBatch(bytes.subarray(FRAME_HEADER_BYTES), PAGE_SIZE);
        expect(batch.count).toBeGreaterThan(0);
        let at = 0;
        for (let i = 0; i < batch.count; i++) {
          const page =
            batch.encoding(i) === PageEncoding.ZERO ? new Uint8Array(PAGE_SIZE) : batch.payload.subarray(at, at + batch.length(i));
          expect(batch.encoding(i) === PageEncoding.ZERO || batch.encoding(i) === PageEncoding.RAW).toBe(true);
          expect(batch.checksum(i)).toBe(kernels.xxh64(page));
          at += batch.length(i);
        }
      });
    }

    it('comes out of the frame reader whole however it is split in two', () => {
      for (let cut = 0; cut <= bytes.byteLength; cut++) {
        const got = read([bytes.subarray(0, cut), bytes.subarray(cut)]);
        if (got.length !== 1 || got[0]!.body !== asRead(bytes).body || got[0]!.type !== bytes[4]) {
          expect(got, `split at byte ${cut}`).toEqual([asRead(bytes)]);
        }
      }
    });

    it('comes out of the frame reader whole when fed one byte at a time', () => {
      expect(read([...bytes].map((b) => Uint8Array.of(b)))).toEqual([asRead(bytes)]);
    });
  });

  it('come out of the frame reader in order, back to back in one stream split at every byte', () => {
    const stream = Buffer.concat(golden.map((g) => g.bytes));
    const expected = golden.map((g) => asRead(g.bytes));
    for (let cut = 0; cut <= stream.byteLength; cut++) {
      const got = read([stream.subarray(0, cut), stream.subarray(cut)]);
      if (got.length !== expected.length || got.some((f, i) => f.type !== expected[i]!.type || f.body !== expected[i]!.body)) {
        expect(got, `split at byte ${cut}`).toEqual(expected);
      }
    }
    expect(read([...stream].map((b) => Uint8Array.of(b)))).toEqual(expected);
  });
});

describe('reading golden blocks', () => {
  const block = (name: string, ...lines: string[]): string => `<!-- golden: ${name} -->\n\`\`\`hex\n${lines.join('\n')}\n\`\`\`\n`;
  const echo = ['08000000 0f 00 0000                # header: 8-byte body, ECHO', '0700000000000000                   # token 7'];

  it('takes a well-formed block', () => {
    expect(goldenFrames(block('echo', ...echo))).toEqual([{ name: 'echo', bytes: Buffer.from('080000000f0000000700000000000000', 'hex') }]);
  });

  it.each([
    ['an odd digit count', block('x', echo[0]!, '070000000000000 # token')],
    ['a character that is not hex', block('x', echo[0]!, '07000000000000zz # token')],
    ['a body shorter than the header says', block('x', echo[0]!, '07000000 # token')],
    ['a body longer than the header says', block('x', echo[0]!, '070000000000000000 # token')],
    ['an unknown message type', block('x', '08000000 42 00 0000 # header: 8-byte body, ECHO', '0700000000000000')],
    ['non-zero flags', block('x', '08000000 0f 01 0000 # header: 8-byte body, ECHO', '0700000000000000')],
    ['a header comment with another length', block('x', '08000000 0f 00 0000 # header: 9-byte body, ECHO', '0700000000000000')],
    ['a header comment with another type', block('x', '08000000 0f 00 0000 # header: 8-byte body, ECHO_REPLY', '0700000000000000')],
    ['no header comment', block('x', '08000000 0f 00 0000', '0700000000000000')],
    ['no hex block after the marker', '<!-- golden: x -->\nsome text\n'],
    [
      'a short PAGES body the text does not explain',
      block('x', '34100000 02 00 0000 # header: 4148-byte body, PAGES', '0000 0000 02000000 02000000'),
    ],
  ])('refuses a block with %s', (_what, markdown) => {
    expect(() => goldenFrames(markdown)).toThrow(/golden block "x"/);
  });
});
