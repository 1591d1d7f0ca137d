#!/usr/bin/env node
// Packs every publishable package and uses the tarballs as a new user would, outside the workspace:
// publint and @arethetypeswrong/cli on each tarball; then, in a fresh project installed with npm and
// another installed with pnpm, plain `node` imports the engine and loads the addon, a strict NodeNext
// TypeScript project type-checks (skipLibCheck off), and the README's embedding example runs as two
// processes. Needs the npm registry (the packages' own dependencies). Exit 0 only if all of it passed.
//
// Without a registry holding @ferry/*, pnpm is pointed at the tarballs with overrides, as a
// registry would serve them; npm takes them from the install line.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'ferry-pack-'));
const tarballs = join(work, 'tarballs');
mkdirSync(tarballs);
const started = performance.now();
const keep = process.argv.includes('--keep');

function run(cmd, args, cwd, extra = {}) {
  console.log(`$ ${cmd} ${args.join(' ')}   (in ${cwd.replace(work, '$WORK')})`);
  return execFileSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8', ...extra });
}

/** The platform package this machine builds, in napi-rs's naming. */
function platformDir() {
  const libc = process.platform === 'linux' ? (process.report.getReport().header.glibcVersionRuntime ? '-gnu' : '-musl') : '';
  const abi = process.platform === 'win32' ? '-msvc' : libc;
  return `${process.platform}-${process.arch}${abi}`;
}

// 1. Pack: the platform binary, the loader, the engine (prepack builds dist/ with tsc).
const packages = [`packages/native/npm/${platformDir()}`, 'packages/native', 'packages/engine', 'packages/cli'];
for (const dir of packages) run('pnpm', ['pack', '--pack-destination', tarballs], join(root, dir));
const tgz = Object.fromEntries(
  readdirSync(tarballs).map((f) => [f.replace(/-\d+\.\d+\.\d+\.tgz$/, ''), join(tarballs, f)]),
);
const engineTgz = tgz['ferry-engine'];
const nativeTgz = tgz['ferry-native'];
const platformTgz = tgz[`ferry-native-${platformDir()}`];
const cliTgz = tgz['ferry-cli'];
for (const [name, file] of Object.entries({ engineTgz, nativeTgz, platformTgz, cliTgz })) if (!file) throw new Error(`pack made no ${name}`);

// 2. Lint what was packed: publint (warnings are errors) and attw (the engine is ESM only).
for (const file of [engineTgz, nativeTgz, platformTgz, cliTgz]) run('pnpm', ['exec', 'publint', 'run', file, '--strict'], root);
run('pnpm', ['exec', 'attw', engineTgz, '--profile', 'esm-only'], root);
run('pnpm', ['exec', 'attw', nativeTgz], root);
const engineManifest = JSON.parse(execFileSync('tar', ['-xzOf', engineTgz, 'package/package.json'], { encoding: 'utf8' }));
if (JSON.stringify(engineManifest).includes('workspace:')) throw new Error('the packed engine still has workspace: versions');
if (engineManifest.exports['.'].default !== './dist/index.js') throw new Error('the packed engine does not export dist/');

// 3. A consumer project per package manager.
const typescript = JSON.parse(readFileSync(join(root, 'node_modules/typescript/package.json'), 'utf8')).version;
const readme = readFileSync(join(root, 'README.md'), 'utf8');
const example = /## Embedding\n\n```ts\n([\s\S]*?)```/.exec(readme)?.[1];
if (!example) throw new Error('README has no embedding example');
const [importLine, ...rest] = example.split('\n');
const body = rest.join('\n');
const split = body.indexOf('// Source host');
if (split < 0) throw new Error("the README example has no '// Source host' part");
const pskLines = body.slice(0, body.indexOf('// Destination host'));
const destinationPart = body.slice(body.indexOf('// Destination host'), split);
const sourcePart = body.slice(split);

/** The README's code with the address it can use here and a real-enough `vm` of each side. */
const files = {
  'destination.ts': [
    importLine,
    "import { createHash } from 'node:crypto';",
    'let devices: Uint8Array | undefined;',
    'let running: GuestMemory | undefined;',
    'const vm = { loadDevices: (state: Uint8Array) => { devices = state; }, start: (memory: GuestMemory) => { running = memory; } };',
    pskLines,
    destinationPart
      .replace("host: '0.0.0.0'", "host: '127.0.0.1'")
      .replace('port: 7070', 'port: 0')
      .replace('const incoming = await destination.result;', 'console.log(JSON.stringify({ port: destination.port }));\nconst incoming = await destination.result;'),
    'const sha = createHash("sha256").update(running!.region(0).bytes).digest("hex");',
    'console.log(JSON.stringify({ digest: incoming.digest, devices: new TextDecoder().decode(devices), sha }));',
    'await destination.close();',
  ].join('\n'),
  'source.ts': [
    importLine,
    "import { createHash } from 'node:crypto';",
    'const vm = { pause() {}, resume() {}, saveDevices: () => new TextEncoder().encode("registers"), destroy() {} };',
    pskLines,
    sourcePart
      .replace("host: 'dest.example', port: 7070", "host: '127.0.0.1', port: Number(process.env.FERRY_PORT)")
      .replace(
        'const tracker = new WriteBarrierTracker(memory.layout);',
        'const tracker = new WriteBarrierTracker(memory.layout);\nfor (let p = 0; p < memory.totalPages; p += 3) memory.page(0, p).fill(p % 251);',
      )
      .replace('onEvent: (e) => console.log(e),', 'onEvent: () => {},')
      .replace(/console\.log\(report[^\n]*\n/, ''),
    'const sha = createHash("sha256").update(memory.region(0).bytes).digest("hex");',
    'console.log(JSON.stringify({ digest: report.digest, downtimeMs: report.downtimeMs, kernels: report.kernels, sha }));',
  ].join('\n'),
  // The newer API surface, strictly typed: the handle, status, the failure report, plan's options.
  'contract.ts': `
import { type FerryError, type MigrationHandle, type MigrationStatus, type MigrateOptions, type MigrationPlan, startMigration, nativeStatus, loadKernels, ErrorCode } from '@ferry/engine';
import { WriteBarrier } from '@ferry/engine/guest';
import { findTornPages } from '@ferry/engine/testing';
export function watch(h: MigrationHandle): MigrationStatus { return h.status(); }
export function failedIn(e: FerryError): string | undefined { return e.report?.failedIn; }
export function withPlan(o: MigrateOptions, p: MigrationPlan): MigrateOptions { return { ...o, ...p.options }; }
export const start: typeof startMigration = startMigration;
export const code: string = ErrorCode.ABORTED;
export const barrier: typeof WriteBarrier = WriteBarrier;
export const torn: typeof findTornPages = findTornPages;
const status = nativeStatus();
if (!status.loaded) throw new Error('the addon did not load from the installed packages: ' + status.reason);
if ((await loadKernels()).name !== 'native') throw new Error('the installed engine runs the JavaScript kernels');
console.log('contract ok');
`,
  'tsconfig.json': JSON.stringify(
    {
      compilerOptions: {
        target: 'es2022',
        module: 'nodenext',
        moduleResolution: 'nodenext',
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        skipLibCheck: false,
        types: ['node'],
        outDir: 'out',
      },
      include: ['*.ts'],
    },
    null,
    2,
  ),
};

function spawnNode(cwd, file, env) {
  const child = spawn(process.execPath, [file], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = [];
  let buffered = '';
  const waiters = [];
  child.stdout.setEncoding('utf8').on('data', (s) => {
    buffered += s;
    let i = buffered.indexOf('\n');
    while (i >= 0) {
      lines.push(JSON.parse(buffered.slice(0, i)));
      buffered = buffered.slice(i + 1);
      i = buffered.indexOf('\n');
      for (const w of waiters.splice(0)) w();
    }
  });
  const exit = new Promise((r) => child.on('exit', (code) => r(code)));
  return {
    exit,
    async line(n) {
      while (lines.length <= n) {
        const code = await Promise.race([exit.then((c) => ({ c })), new Promise((r) => waiters.push(r))]);
        if (code && lines.length <= n) throw new Error(`${file} exited ${code.c} before line ${n}`);
      }
      return lines[n];
    },
  };
}

async function consumer(manager) {
  const dir = join(work, `${manager}-app`);
  mkdirSync(dir);
  const pkg = { name: `ferry-consumer-${manager}`, private: true, type: 'module' };
  if (manager === 'pnpm') {
    pkg.pnpm = {
      overrides: {
        '@ferry/engine': `file:${engineTgz}`,
        '@ferry/native': `file:${nativeTgz}`,
        [`@ferry/native-${platformDir()}`]: `file:${platformTgz}`,
      },
    };
  }
  writeFileSync(join(dir, 'package.json'), JSON.stringify(pkg, null, 2));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const deps = [engineTgz, nativeTgz, platformTgz, cliTgz, `typescript@${typescript}`, '@types/node@20'];
  if (manager === 'npm') run('npm', ['install', '--no-audit', '--no-fund', ...deps], dir);
  else run('pnpm', ['add', ...deps], dir, { env: { ...process.env, npm_config_workspace_dir: dir } });
  run(process.execPath, ['-e', "import('@ferry/engine').then((m) => { if (!m.nativeStatus().loaded) throw new Error(m.nativeStatus().reason); console.log('plain node imports @ferry/engine; addon loaded') })"], dir);
  run(process.execPath, [join(dir, 'node_modules/typescript/bin/tsc'), '-p', '.'], dir);
  run(process.execPath, ['out/contract.js'], dir);
  const env = { FERRY_PSK_HEX: randomBytes(32).toString('hex') };
  const destination = spawnNode(dir, 'out/destination.js', env);
  const { port } = await destination.line(0);
  const source = spawnNode(dir, 'out/source.js', { ...env, FERRY_PORT: String(port) });
  const sent = await source.line(0);
  const received = await destination.line(1);
  const codes = await Promise.all([source.exit, destination.exit]);
  if (codes.some((c) => c !== 0)) throw new Error(`the example's processes exited ${codes.join(' and ')}`);
  if (sent.digest !== received.digest || sent.sha !== received.sha || received.devices !== 'registers') {
    throw new Error(`the example moved the guest wrong: ${JSON.stringify({ sent, received })}`);
  }
  console.log(`${manager}: README example ran as two processes; digest ${sent.digest}, downtime ${sent.downtimeMs.toFixed(1)} ms, kernels ${sent.kernels}`);
  await installedCli(dir, manager);
}

/** The installed `ferry` command: help, and a raw image moved between two of its processes with a key file. */
async function installedCli(dir, manager) {
  const ferry = join(dir, 'node_modules/.bin/ferry');
  run(ferry, ['--help'], dir);
  const bench = spawnSync(ferry, ['bench'], { cwd: dir, encoding: 'utf8' });
  if (bench.status !== 2 || !bench.stderr.includes('needs packages/bench')) throw new Error(`installed ferry bench: ${bench.status} ${bench.stderr}`);
  const image = randomBytes(8 * 2 ** 20);
  image.fill(0, 0, 2 ** 20);
  writeFileSync(join(dir, 'guest.img'), image);
  writeFileSync(join(dir, 'key'), randomBytes(32).toString('hex'), { mode: 0o600 });
  const listen = spawn(ferry, ['listen', '--guest', 'raw', '--out', 'received.img', '--psk-file', 'key', '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    listen.stdout.setEncoding('utf8').once('data', (s) => resolve(JSON.parse(s.split('\n')[0]).port));
    listen.once('exit', (code) => reject(new Error(`installed ferry listen exited ${code}`)));
  });
  const migrate = spawnSync(ferry, ['migrate', '--to', `127.0.0.1:${port}`, '--guest', 'raw', '--image', 'guest.img', '--psk-file', 'key', '--json'], {
    cwd: dir,
    encoding: 'utf8',
  });
  const listened = await new Promise((r) => (listen.exitCode !== null ? r(listen.exitCode) : listen.once('exit', r)));
  if (migrate.status !== 0 || listened !== 0) throw new Error(`installed ferry: migrate ${migrate.status}, listen ${listened}\n${migrate.stdout}${migrate.stderr}`);
  if (!readFileSync(join(dir, 'received.img')).equals(image)) throw new Error('installed ferry: the received image differs');
  const report = JSON.parse(migrate.stdout.trim().split('\n').at(-1)).report;
  console.log(`${manager}: the installed ferry moved an 8 MiB image between two processes (${report.rounds[0].zeroPages} zero pages counted, kernels ${report.kernels})`);
}

try {
  await consumer('npm');
  await consumer('pnpm');
  console.log(`pack-check: all passed in ${((performance.now() - started) / 1000).toFixed(0)} s`);
} finally {
  if (!keep) rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
