import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { memoryDigest } from '../src/wire/digest.ts';
import { frame } from '../src/wire/frames.ts';
import { kernels } from '../src/wire/kernels.ts';
import { acceptBody, helloBody, parseAccept, parseHello, parseMissing, parseReport, reportBody } from '../src/wire/messages.ts';
import { pskProof } from '../src/wire/psk.ts';

/**
 * The kit writes its frames by hand; the golden vectors (packages/conformance/vectors, made by
 * Ferry's codecs) show that what it writes and reads is what the spec says.
 */
const load = <T>(name: string): T => JSON.parse(readFileSync(new URL(`../vectors/${name}`, import.meta.url), 'utf8'));
const bytes = (hex: string): Buffer => Buffer.from(hex, 'hex');
interface Messages {
  vectors: { name: string; hex: string; message: string; fields: { version?: number } }[];
}

describe('the kit’s codecs against the golden vectors', () => {
  it('frames: header, and the CRC-32 trailer where the frame is sealed', () => {
    for (const v of load<Messages>('messages.json').vectors) {
      const f = bytes(v.hex);
      const type = f[4]!;
      const checked = (f[5]! & 1) !== 0;
      const body = f.subarray(8, 8 + f.readUInt32LE(0));
      expect(frame(type, body, { checked }).toString('hex'), v.name).toBe(v.hex);
    }
  });

  it('HELLO, HELLO_ACCEPT (8 and 16 bytes), error reports and missing maps decode and re-encode', () => {
    for (const v of load<Messages>('messages.json').vectors) {
      const body = bytes(v.hex).subarray(8, 8 + bytes(v.hex).readUInt32LE(0));
      if (v.message === 'HELLO') expect(helloBody(parseHello(body)).equals(body), v.name).toBe(true);
      if (v.message === 'HELLO_ACCEPT') {
        const a = parseAccept(body);
        expect(a.version, v.name).toBe(v.fields.version);
        expect(acceptBody(a).equals(body), v.name).toBe(true);
      }
      if (v.message === 'HELLO_REJECT' || v.message === 'FAILED' || v.message === 'ABORT') {
        const r = parseReport(body);
        expect(reportBody(r.code, r.message).equals(body), v.name).toBe(true);
      }
      if (v.message === 'RECOVER_MISSING' || v.message === 'POSTCOPY_MISSING') expect(() => parseMissing(body), v.name).not.toThrow();
    }
  });

  it('PSK proofs', () => {
    const v = load<{
      key: string;
      sessionId: string;
      ns: string;
      nd: string;
      destinationMac: string;
      sourceMac: string;
      frames: { hex: string }[];
    }>('psk.json');
    const hello = bytes(v.frames[0]!.hex).subarray(8);
    const args = [bytes(v.sessionId), hello, bytes(v.ns), bytes(v.nd)] as const;
    expect(pskProof(bytes(v.key), 'destination', ...args).toString('hex')).toBe(v.destinationMac);
    expect(pskProof(bytes(v.key), 'source', ...args).toString('hex')).toBe(v.sourceMac);
  });

  it('the memory digest', async () => {
    const v = load<{
      guest: { pageSize: number; regions: { sizeBytes: number }[] };
      pages: { region: number; page: number; content: { fill?: string; ramp?: number; set?: Record<string, string> } }[];
      digest: string;
    }>('digest.json');
    const k = await kernels();
    const ps = v.guest.pageSize;
    const memory = v.guest.regions.map((r) => new Uint8Array(r.sizeBytes));
    for (const p of v.pages) {
      const page = memory[p.region]!.subarray(p.page * ps, (p.page + 1) * ps);
      if (p.content.fill !== undefined) page.fill(Number.parseInt(p.content.fill, 16));
      if (p.content.ramp !== undefined) for (let i = 0; i < ps; i++) page[i] = (p.content.ramp + i) & 0xff;
      for (const [offset, hex] of Object.entries(p.content.set ?? {})) page.set(bytes(hex), Number(offset));
    }
    expect(`0x${memoryDigest(k, memory, ps).toString(16).padStart(16, '0')}`).toBe(v.digest);
  });
});
