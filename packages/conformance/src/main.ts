/**
 * `ferry-conformance`: runs the kit against an implementation of the Ferry protocol, in either
 * role, and the reference tools (`receive`, `send`). Exit codes: 0 every scenario run passed
 * (skips allowed); 1 one failed; 2 bad usage.
 */
import { Command, CommanderError, Option } from 'commander';
import { runDestinationRole, shellLauncher } from './destination/run.ts';
import { DESTINATION_SCENARIOS } from './destination/scenarios.ts';
import { parseHostPort, parseLayout, parsePsk } from './options.ts';
import { json, listing, type RunReport, summary, table } from './report.ts';
import type { Result } from './runner.ts';
import { SOURCE_SCENARIOS } from './source/index.ts';
import { runSourceRole } from './source/run.ts';
import { receive } from './tools/receive.ts';
import { send } from './tools/send.ts';

interface Streams {
  readonly stdout: { write(s: string): unknown };
  readonly stderr: { write(s: string): unknown };
}

interface RunValues {
  readonly role?: 'source' | 'destination';
  readonly target?: string;
  readonly listen?: string;
  readonly sourceCommand?: string;
  readonly scenario?: string;
  readonly only?: string;
  readonly list: boolean;
  readonly json: boolean;
  readonly pageSize: string;
  readonly region: string[];
  readonly pskFile?: string;
  readonly pskHex?: string;
  readonly timeoutMs: string;
}

const collect = (v: string, prev: string[]): string[] => [...prev, v];
const psk = (v: { pskFile?: string; pskHex?: string }): Buffer | undefined =>
  parsePsk({ ...v, ...(!v.pskFile && !v.pskHex && process.env.FERRY_PSK_HEX && { pskHex: process.env.FERRY_PSK_HEX }) });

/** Runs the command with `argv` (without node and the script); resolves with the exit code. */
export async function main(argv: readonly string[], io: Streams = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let code = 0;
  const program = new Command('ferry-conformance')
    .description('Checks an implementation of the Ferry migration protocol (docs/protocol.md) with scripted peers.')
    .addOption(new Option('--role <role>', 'the kit plays this side').choices(['source', 'destination']))
    .option('--target <host:port>', 'role source: the destination under test (it must take one migration after another)')
    .option('--listen <port>', 'role destination: the port the source under test connects to')
    .option(
      '--source-command <cmd>',
      'role destination: shell command starting the source under test once per scenario; {port} is replaced',
    )
    .option('--scenario <id>', 'run this scenario only')
    .option('--only <ids>', 'run these scenarios only (comma-separated)')
    .option('--list', 'list the scenarios of the role and exit', false)
    .option('--json', 'print the results as JSON', false)
    .option('--page-size <bytes>', 'role source: the destination’s page size', '4096')
    .option('--region <name:bytes>', 'role source: a region the destination expects (repeatable; default ram0:4M)', collect, [])
    .option('--psk-file <file>', 'the pre-shared key the peer holds (hex or raw bytes); also $FERRY_PSK_HEX')
    .option('--psk-hex <hex>', 'the pre-shared key as hex (test keys only: argv is visible to other users)')
    .option('--timeout-ms <ms>', 'per-scenario timeout', '30000')
    .addHelpText(
      'after',
      '\nExit codes: 0 every scenario that ran passed (skipped ones are listed with their reason); 1 a scenario failed; 2 bad usage.',
    )
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .enablePositionalOptions()
    .exitOverride()
    .action(async (v: RunValues) => {
      code = await runKit(v, io);
    });
  program
    .command('receive')
    .description('reference destination: receive one migration (or one after another with --repeat) into an image file')
    .requiredOption('--listen <port>', 'port to listen on (127.0.0.1)')
    .requiredOption('--image <file>', 'where the received memory goes, regions back to back')
    .option('--page-size <bytes>', 'page size', '4096')
    .option('--region <name:bytes>', 'a region of the expected layout (repeatable; default ram0:4M)', collect, [])
    .option('--psk-file <file>', 'pre-shared key file')
    .option('--psk-hex <hex>', 'pre-shared key as hex')
    .option('--repeat', 'take one migration after another until SIGINT/SIGTERM', false)
    .exitOverride()
    .action(
      async (v: {
        listen: string;
        image: string;
        pageSize: string;
        region: string[];
        repeat: boolean;
        pskFile?: string;
        pskHex?: string;
      }) => {
        const ac = new AbortController();
        const stop = (): void => ac.abort();
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
        try {
          const key = psk(v);
          code = await receive(
            {
              port: Number(v.listen),
              image: v.image,
              layout: parseLayout(v.pageSize, v.region),
              repeat: v.repeat,
              ...(key && { psk: key }),
              log: (l) => io.stderr.write(`${l}\n`),
            },
            ac.signal,
          );
        } finally {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
        }
      },
    );
  program
    .command('send')
    .description('reference source: migrate the memory of an image file')
    .requiredOption('--target <host:port>', 'the destination')
    .requiredOption('--image <file>', 'the memory, regions back to back')
    .option('--page-size <bytes>', 'page size', '4096')
    .option('--region <name:bytes>', 'regions to cut the image into (repeatable; default one region ram0 of the whole file)', collect, [])
    .addOption(new Option('--compression <c>', 'page encodings').choices(['off', 'lz4', 'xbzrle', 'adaptive']).default('off'))
    .option('--psk-file <file>', 'pre-shared key file')
    .option('--psk-hex <hex>', 'pre-shared key as hex')
    .exitOverride()
    .action(
      async (v: {
        target: string;
        image: string;
        pageSize: string;
        region: string[];
        compression: 'off';
        pskFile?: string;
        pskHex?: string;
      }) => {
        const key = psk(v);
        code = await send({
          ...parseHostPort(v.target, '--target'),
          image: v.image,
          ...(v.region.length > 0 && { layout: parseLayout(v.pageSize, v.region) }),
          compression: v.compression,
          ...(key && { psk: key }),
          log: (l) => io.stderr.write(`${l}\n`),
        });
      },
    );
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
    io.stderr.write(`ferry-conformance: ${(err as Error).message}\n`);
    return 2;
  }
}

async function runKit(v: RunValues, io: Streams): Promise<number> {
  if (!v.role) throw new Error('--role source or --role destination is required (see --help)');
  const scenarios = v.role === 'source' ? SOURCE_SCENARIOS : DESTINATION_SCENARIOS;
  if (v.list) {
    io.stdout.write(`${listing(scenarios)}\n`);
    return 0;
  }
  const only = v.scenario ? [v.scenario] : v.only?.split(',').map((s) => s.trim());
  const unknown = only?.filter((id) => !scenarios.some((s) => s.id === id)) ?? [];
  if (unknown.length) throw new Error(`no ${v.role} scenario ${unknown.join(', ')} (see --list)`);
  const key = psk(v);
  const timeoutMs = Number(v.timeoutMs);
  const started = performance.now();
  const progress = (r: Result): void => {
    if (!v.json) io.stderr.write(`${r.status.padEnd(4)} ${r.id}\n`);
  };
  let report: RunReport;
  if (v.role === 'source') {
    if (!v.target) throw new Error('--role source needs --target HOST:PORT');
    const t = parseHostPort(v.target, '--target');
    const layout = parseLayout(v.pageSize, v.region);
    const { results, peerMaxVersion } = await runSourceRole({
      // A fixed destination takes one migration after another: give it a moment to be ready again.
      target: async () => {
        await new Promise((r) => setTimeout(r, 150));
        return t;
      },
      layout,
      ...(key && { psk: key }),
      ...(only && { only }),
      timeoutMs,
      onResult: progress,
    });
    report = { role: 'source', implementation: v.target, peerMaxVersion, scenarios, results, durationMs: performance.now() - started };
  } else {
    if (v.listen === undefined) throw new Error('--role destination needs --listen PORT');
    const { results, port } = await runDestinationRole({
      port: Number(v.listen),
      ...(v.sourceCommand && { launcher: shellLauncher(v.sourceCommand) }),
      ...(key && { psk: key }),
      ...(only && { only }),
      timeoutMs,
      onListening: (p) => {
        if (!v.json)
          io.stderr.write(`listening on 127.0.0.1:${p}${v.sourceCommand ? '' : ': start the source under test once per scenario'}\n`);
      },
      onResult: progress,
    });
    report = {
      role: 'destination',
      implementation: `source connecting to 127.0.0.1:${port}`,
      scenarios,
      results,
      durationMs: performance.now() - started,
    };
  }
  io.stdout.write(`${v.json ? json(report) : table(report)}\n`);
  return summary(report.results).fail === 0 ? 0 : 1;
}
