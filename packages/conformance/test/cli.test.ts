import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../src/main.ts';

const root = fileURLToPath(new URL('../../..', import.meta.url));
const kitBin = join(root, 'packages/conformance/bin/ferry-conformance.mjs');
const ferryBin = join(root, 'packages/cli/bin/ferry.mjs');
const dir = mkdtempSync(join(tmpdir(), 'ferry-conformance-'));

function capture(): { io: Parameters<typeof main>[1] & object; out: () => string } {
  let out = '';
  return { io: { stdout: { write: (s: string) => (out += s) }, stderr: { write: () => true } }, out: () => out };
}

describe('ferry-conformance as a command, with real processes', () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) c.kill('SIGTERM');
  });

  it('role destination drives `ferry migrate` through --source-command', async () => {
    const image = join(dir, 'guest.img');
    const bytes = Buffer.alloc(1 << 20);
    for (let i = 0; i < bytes.byteLength; i += 8192) bytes.fill((i >>> 13) | 1, i, i + 4096);
    writeFileSync(image, bytes);
    const source = `node ${ferryBin} migrate --guest raw --image ${image} --to 127.0.0.1:{port} --no-progress`;
    const c = capture();
    const code = await main(
      [
        '--role',
        'destination',
        '--listen',
        '0',
        '--source-command',
        source,
        '--only',
        'dst-happy,dst-reject,dst-drop-after-commit',
        '--json',
      ],
      c.io,
    );
    const report = JSON.parse(c.out()) as { results: { id: string; status: string; reason: string }[] };
    expect(report.results.map((r) => `${r.id} ${r.status} ${r.reason}`)).toEqual([
      expect.stringMatching(/^dst-happy pass version [34]: completed, exit 0$/),
      'dst-drop-after-commit pass FERRY_OUTCOME_UNKNOWN, exit 5',
      'dst-reject pass no COMMIT, closed, exit 3',
    ]);
    expect(code).toBe(0);
  });

  it('role source runs against the reference receive tool (--repeat), which writes the image', async () => {
    const image = join(dir, 'received.img');
    // A port free now (the tool binds it itself).
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    const child = spawn('node', [kitBin, 'receive', '--listen', String(port), '--image', image, '--region', 'ram0:4M', '--repeat'], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(child);
    await new Promise<void>((resolve) => child.stderr!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve()));
    const c = capture();
    const code = await main(
      ['--role', 'source', '--target', `127.0.0.1:${port}`, '--only', 'src-happy-v3,src-enc-lz4,src-refuse-magic'],
      c.io,
    );
    expect(c.out()).toMatch(/3 passed, 0 failed, 0 skipped/);
    expect(code).toBe(0);
    expect(readFileSync(image).byteLength).toBe(4 * 1024 * 1024);
  });
});
