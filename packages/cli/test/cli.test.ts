import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type Ferry, ferry, ferryRun } from './ferry.ts';

const MiB = 2 ** 20;

function workdir(): string {
  return mkdtempSync(join(tmpdir(), 'ferry-cli-'));
}

/** A raw memory image of `mib` MiB: random pages with every fourth page zero. */
function image(dir: string, mib: number): string {
  const bytes = randomBytes(mib * MiB);
  for (let p = 0; p < (mib * MiB) / 4096; p += 4) bytes.fill(0, p * 4096, (p + 1) * 4096);
  const path = join(dir, 'guest.img');
  writeFileSync(path, bytes);
  return path;
}

function keyFile(dir: string, key: Buffer): string {
  const path = join(dir, 'key');
  writeFileSync(path, key.toString('hex'));
  chmodSync(path, 0o600);
  return path;
}

/** One line to the kv guest and its answer. */
function kv(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(port, '127.0.0.1');
    let text = '';
    socket.setEncoding('utf8');
    socket.on('data', (s: string) => {
      text += s;
      if (text.includes('\n')) {
        socket.end();
        resolve(text.trim());
      }
    });
    socket.on('error', reject);
    socket.write(`${line}\n`);
  });
}

/** Waits for a human-readable stdout line of `f` that matches. */
async function lineMatching(f: Ferry, pattern: RegExp): Promise<string> {
  for (let i = 0; i < 300; i++) {
    const line = f.stdout.find((l) => pattern.test(l));
    if (line) return line;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no line matching ${pattern}: ${f.stdout.join('\n')}\n${f.stderr()}`);
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('ferry', () => {
  it('prints help and exits 0; bad usage exits 2 without a stack trace; a key on the command line is refused', async () => {
    const help = await ferryRun([]);
    expect(help.code).toBe(0);
    for (const c of ['listen', 'migrate', 'probe', 'plan', 'status', 'bench']) expect(help.stdout).toContain(c);
    expect(help.stdout).toContain('Exit codes');
    const unknown = await ferryRun(['teleport']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'teleport'");
    const missing = await ferryRun(['migrate', '--guest', 'raw']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('--to');
    const argvKey = await ferryRun(['migrate', '--to', '127.0.0.1:1', '--guest', 'raw', '--psk', 'aa'.repeat(32)]);
    expect(argvKey.code).toBe(2);
    expect(argvKey.stderr).toContain('--psk-file');
    expect(argvKey.stderr).not.toMatch(/\n\s+at /);
    const badGuest = await ferryRun(['migrate', '--to', '127.0.0.1:1', '--guest', 'firecracker']);
    expect(badGuest.code).toBe(2);
    expect(badGuest.stderr).toContain('--guest must be one of raw, kv, qemu');
    const bare = await ferryRun(['bench']);
    expect(bare.code).toBe(0);
    expect(bare.stdout).toContain('usage: ferry bench <name>');
    const bench = await ferryRun(['bench', '--help']);
    expect(bench.code).toBe(0);
    expect(bench.stdout).toContain('usage: ferry bench <name>');
    expect(bench.stdout).toContain('migrate');
    const benchOne = await ferryRun(['bench', 'scan', '--help']);
    expect(benchOne.stdout).toContain('--size-mib');
    expect((await ferryRun(['bench', 'nope'])).code).toBe(2);
    const badOption = await ferryRun(['bench', 'scan', '--sise-mib', '8']);
    expect(badOption.code).toBe(2);
    expect(badOption.stderr).toContain("Unknown option '--sise-mib'");
    expect(badOption.stderr).not.toMatch(/\n\s+at /);
  });

  it('migrates a raw memory image between two processes with a key from a file and from the environment', async () => {
    const dir = workdir();
    const img = image(dir, 16);
    const key = randomBytes(32);
    const out = join(dir, 'received.img');
    const listen = ferry(['listen', '--guest', 'raw', '--out', out, '--json', '--psk-file', keyFile(dir, key)]);
    const { port } = await listen.next('listening');
    const migrate = await ferryRun(['migrate', '--to', `127.0.0.1:${port}`, '--guest', 'raw', '--image', img, '--json'], {
      FERRY_PSK_HEX: key.toString('hex'),
      DEBUG: 'ferry:*',
    });
    expect(migrate.code).toBe(0);
    // Logs on demand, one namespace per layer; none where DEBUG was not set.
    for (const ns of ['accel', 'orchestrate', 'transport', 'session', 'precopy']) expect(migrate.stderr).toContain(`ferry:${ns}`);
    expect(migrate.stderr).toMatch(/ferry:precopy round 0: 3072 pages \(1024 zero\)/);
    const lines = migrate.stdout.split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[0]).toMatchObject({ event: 'guest', adapter: 'raw', bytes: 16 * MiB });
    const done = lines.at(-1) as { event: string; report: { digest: string; rounds: { zeroPages: number }[]; memoryBytes: number } };
    expect(done.event).toBe('completed');
    expect(done.report.memoryBytes).toBe(16 * MiB);
    // Every fourth page of the image is zero: round 0 counts them.
    expect(done.report.rounds[0]!.zeroPages).toBe(1024);
    const received = await listen.next('completed');
    expect(received.digest).toBe(done.report.digest);
    expect(await listen.exit).toBe(0);
    expect(listen.stderr()).not.toContain('ferry:');
    expect(readFileSync(out).equals(readFileSync(img))).toBe(true);
  });

  it('exits 3 when the destination refuses the key, 4 when nobody listens, and says why as JSON', async () => {
    const dir = workdir();
    const img = image(dir, 4);
    const listen = ferry(['listen', '--guest', 'raw', '--out', join(dir, 'x.img'), '--json'], {
      FERRY_PSK_HEX: randomBytes(32).toString('hex'),
    });
    const { port } = await listen.next('listening');
    const refused = await ferryRun(['migrate', '--to', `127.0.0.1:${port}`, '--guest', 'raw', '--image', img, '--json'], {
      FERRY_PSK_HEX: randomBytes(32).toString('hex'),
    });
    expect(refused.code).toBe(3);
    const failed = JSON.parse(refused.stdout.split('\n').at(-1)!) as { event: string; code: string; report: { guestResumed: boolean } };
    expect(failed).toMatchObject({ event: 'failed', code: 'FERRY_AUTH_FAILED' });
    expect(failed.report.guestResumed).toBe(true);
    listen.child.kill('SIGTERM');
    expect(await listen.exit).toBe(130);

    const nobody = await ferryRun(['migrate', '--to', `127.0.0.1:${await closedPort()}`, '--guest', 'raw', '--image', img, '--json']);
    expect(nobody.code).toBe(4);
    expect(JSON.parse(nobody.stdout.split('\n').at(-1)!)).toMatchObject({ event: 'failed', code: 'FERRY_CONNECT_FAILED' });
  });

  it('probes and plans against a listening destination', async () => {
    const dir = workdir();
    const img = image(dir, 8);
    const listen = ferry(['listen', '--guest', 'raw', '--out', join(dir, 'x.img'), '--json', '--max-guest-mib', '16']);
    const { port } = await listen.next('listening');
    const probe = await ferryRun(['probe', '--to', `127.0.0.1:${port}`, '--size-mib', '8', '--measure-mib', '4', '--json']);
    expect(probe.code).toBe(0);
    const answer = JSON.parse(probe.stdout) as { accepted: boolean; rttMs: number; bandwidthBytesPerSec: number };
    expect(answer.accepted).toBe(true);
    expect(answer.bandwidthBytesPerSec).toBeGreaterThan(0);
    const tooBig = await ferryRun(['probe', '--to', `127.0.0.1:${port}`, '--size-mib', '64', '--measure-mib', '0', '--json']);
    expect(tooBig.code).toBe(3);
    expect(JSON.parse(tooBig.stdout)).toMatchObject({ accepted: false });
    const plan = await ferryRun([
      'plan',
      '--to',
      `127.0.0.1:${port}`,
      '--guest',
      'raw',
      '--image',
      img,
      '--sample-ms',
      '200',
      '--probe-mib',
      '4',
      '--json',
    ]);
    expect(plan.code).toBe(0);
    const p = JSON.parse(plan.stdout) as { recommended: string; options: { strategy: string; compression: string } };
    expect(['precopy', 'postcopy', 'hybrid']).toContain(p.recommended);
    expect(p.options.strategy).toBe(p.recommended);
    listen.child.kill('SIGINT');
    expect(await listen.exit).toBe(130);
  });

  it('answers ferry status while a migration runs, and a cancelled migration exits 130 with its partial report', async () => {
    const dir = workdir();
    const img = image(dir, 32);
    const runtime = workdir();
    const listen = ferry(['listen', '--guest', 'raw', '--out', join(dir, 'x.img'), '--json']);
    const { port } = await listen.next('listening');
    // 32 MiB at 4 MB/s: about eight seconds, long enough to be asked.
    const migrate = ferry(['migrate', '--to', `127.0.0.1:${port}`, '--guest', 'raw', '--image', img, '--max-bandwidth', '4M', '--json'], {
      XDG_RUNTIME_DIR: runtime,
    });
    await migrate.next('guest');
    let status: { pid: number; status: { phase: string; round: number; bytesSent: number; elapsedMs: number } } | undefined;
    // Until it is sending round 0 (connecting and the handshake come first).
    for (let i = 0; i < 100 && !(status && status.status.phase === 'precopy' && status.status.bytesSent > 0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      const asked = await ferryRun(['status', '--json'], { XDG_RUNTIME_DIR: runtime });
      if (asked.code === 0) status = JSON.parse(asked.stdout.split('\n')[0]!) as typeof status;
    }
    expect(status!.pid).toBe(migrate.child.pid);
    expect(status!.status.phase).toBe('precopy');
    expect(status!.status.round).toBe(0);
    expect(status!.status.bytesSent).toBeGreaterThan(0);
    expect(status!.status.elapsedMs).toBeGreaterThan(0);
    const human = await ferryRun(['status'], { XDG_RUNTIME_DIR: runtime });
    expect(human.stdout).toContain('phase precopy, round 0');
    migrate.child.kill('SIGINT');
    const failed = await migrate.next('failed');
    expect(await migrate.exit).toBe(130);
    expect(failed).toMatchObject({ code: 'FERRY_ABORTED', report: { failedIn: 'precopy', guestResumed: true } });
    expect((failed.report as { bytesSent: number }).bytesSent).toBeGreaterThan(0);
    // Its socket is gone with it.
    expect((await ferryRun(['status', '--json'], { XDG_RUNTIME_DIR: runtime })).code).toBe(1);
  });

  it("moves the demo's key-value guest: a key set on the source is read back from the destination's guest", async () => {
    const listen = ferry(['listen', '--guest', 'kv', '--json']);
    const { port } = await listen.next('listening');
    const migrate = ferry(['migrate', '--to', `127.0.0.1:${port}`, '--guest', 'kv', '--size-mib', '32', '--warmup-ms', '1500', '--json']);
    const guest = await migrate.next('guest');
    expect(await kv(guest.guestPort as number, 'SET ferry crossed')).toBe('OK');
    const done = await migrate.next('completed');
    expect(await migrate.exit).toBe(0);
    expect((done.report as { strategy: string }).strategy).toBe('precopy');
    const arrived = await listen.next('completed');
    expect(arrived.generation).toBe(2);
    expect(await kv(arrived.guestPort as number, 'GET ferry')).toBe('VALUE crossed');
    listen.child.kill('SIGTERM');
    expect(await listen.exit).toBe(0);
  });

  it('announces the JavaScript kernels when the addon is not used, in the report and on stderr', async () => {
    // The kv guest: a raw image needs the addon to map its file.
    const listen = ferry(['listen', '--guest', 'kv'], { FERRY_NO_NATIVE: '1' });
    const port = Number(/listening on 127\.0\.0\.1:(\d+)/.exec(await lineMatching(listen, /listening on/))![1]);
    const migrate = await ferryRun(['migrate', '--to', `127.0.0.1:${port}`, '--guest', 'kv', '--size-mib', '16'], { FERRY_NO_NATIVE: '1' });
    expect(migrate.code).toBe(0);
    expect(migrate.stdout).toContain('kernels js');
    expect(migrate.stdout).toContain('note: the native addon is disabled by FERRY_NO_NATIVE=1');
    expect(migrate.stderr).toContain('FERRY_NO_NATIVE=1');
    await lineMatching(listen, /^received kv/);
    // The destination says so too.
    expect(listen.stderr()).toContain('note: the native addon is disabled by FERRY_NO_NATIVE=1');
    listen.child.kill('SIGTERM');
    expect(await listen.exit).toBe(0);
  });
});
