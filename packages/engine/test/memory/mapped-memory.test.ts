import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCode, GuestMemory, memoryDigest } from '../../src/index.ts';
import { loadKernels } from '../../src/index.ts';
import { hashMemory, hashMemorySparse } from '../../src/memory/digest.ts';

const dir = mkdtempSync(join(tmpdir(), 'ferry-map-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('GuestMemory.map', () => {
  it('maps anonymous memory, zeroed, and detaches every view on unmap', () => {
    const memory = GuestMemory.map({ regions: [{ name: 'ram0', sizeBytes: 1 << 20 }] });
    const bytes = memory.region(0).bytes;
    expect(bytes.length).toBe(1 << 20);
    expect(bytes.every((b) => b === 0)).toBe(true);
    const page = memory.page(0, 3);
    page.fill(7);
    expect(memory.region(0).mapping?.mapped).toBe(true);
    memory.unmap();
    // Nothing can reach the memory any more: the views read as empty instead of faulting.
    expect(bytes.length).toBe(0);
    expect(page.length).toBe(0);
    expect(page[0]).toBeUndefined();
    expect(memory.region(0).mapping?.mapped).toBe(false);
    expect(() => memory.region(0).mapping?.buffer()).toThrow(/unmapped/);
    memory.unmap(); // idempotent
  });

  it('tells untouched anonymous pages (zero, never read) from resident ones, and hashes only those', async () => {
    const memory = GuestMemory.map({ regions: [{ name: 'ram0', sizeBytes: 64 * 4096 }] });
    try {
      memory.page(0, 3)[5] = 1;
      for (const p of [10, 11, 12]) memory.page(0, p)[p] = p; // a run, hashed in one call
      memory.page(0, 40).fill(2);
      const words = new Uint32Array(2);
      expect(memory.region(0).mapping!.residentPages(4096, words)).toBe(5);
      expect([...words]).toEqual([(1 << 3) | (1 << 10) | (1 << 11) | (1 << 12), 1 << 8]);
      const kernels = await loadKernels();
      const zero = kernels.xxh64(new Uint8Array(4096));
      expect(hashMemorySparse(memory, kernels, zero)).toEqual(hashMemory(memory, kernels));
    } finally {
      memory.unmap();
    }
  });

  it('shares a file with another process both ways', () => {
    const file = join(dir, 'ram-shared');
    const memory = GuestMemory.map({ regions: [{ name: 'ram0', file, sizeBytes: 16 * 4096, create: true }] });
    try {
      memory.page(0, 2).fill(0xab);
      // Another process sees our writes in the file, and we see its writes in our memory.
      const script = `const fs=require('fs');const fd=fs.openSync(${JSON.stringify(file)},'r+');
        const b=Buffer.alloc(1);fs.readSync(fd,b,0,1,2*4096);fs.writeSync(fd,Buffer.from([b[0]^0xff]),0,1,5*4096+9);`;
      execFileSync(process.execPath, ['-e', script]);
      expect(memory.page(0, 5)[9]).toBe(0xab ^ 0xff);
    } finally {
      memory.unmap();
    }
    expect(readFileSync(file)[2 * 4096]).toBe(0xab);
  });

  it('maps a file read-only without ever writing it, and survives a stray write', async () => {
    const file = join(dir, 'ram-ro');
    const content = Buffer.alloc(8 * 4096, 3);
    writeFileSync(file, content);
    const memory = GuestMemory.map({ regions: [{ name: 'ram0', file, writable: false }] });
    try {
      expect(memory.region(0).sizeBytes).toBe(8 * 4096);
      expect(memory.region(0).mapping?.writable).toBe(false);
      const kernels = await loadKernels();
      const before = memoryDigest(memory, kernels);
      memory.page(0, 1)[0] = 99; // a private copy of the page, not the file
      expect(memoryDigest(memory, kernels)).not.toBe(before);
    } finally {
      memory.unmap();
    }
    expect(readFileSync(file).equals(content)).toBe(true);
  });

  it('says why with FERRY_MAPPING_FAILED, and unmaps what it had mapped', () => {
    const fails = (regions: Parameters<typeof GuestMemory.map>[0]['regions']): unknown => {
      try {
        GuestMemory.map({ regions });
      } catch (err) {
        return err;
      }
      throw new Error('mapped');
    };
    expect(fails([{ name: 'x', file: join(dir, 'missing') }])).toMatchObject({
      code: ErrorCode.MAPPING_FAILED,
      message: expect.stringMatching(/region x: cannot map .*missing.*No such file/),
    });
    expect(fails([{ name: 'x', sizeBytes: 4097 }])).toMatchObject({ code: ErrorCode.MAPPING_FAILED });
    expect(fails([{ name: 'x' }])).toMatchObject({ code: ErrorCode.MAPPING_FAILED });
    const short = join(dir, 'short');
    writeFileSync(short, Buffer.alloc(4096));
    expect(fails([{ name: 'x', file: short, writable: false, sizeBytes: 8192 }])).toMatchObject({
      code: ErrorCode.MAPPING_FAILED,
      message: expect.stringMatching(/fewer than/),
    });
    // The second region's page size check fails after the first was mapped.
    expect(
      fails([
        { name: 'a', sizeBytes: 4096 },
        { name: 'a', sizeBytes: 4096 },
      ]),
    ).toBeInstanceOf(Error);
  });
});
