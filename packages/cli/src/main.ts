/**
 * `ferry`: the command line for Ferry live migration. Each subcommand is a file in commands/;
 * guests come from adapters/ (`--guest`). Exit codes: exit-codes.ts (and the README).
 */
import { createRequire } from 'node:module';
import { FerryError } from '@ferry/engine';
import { Command, CommanderError } from 'commander';
import { benchCommand } from './commands/bench.ts';
import { listenCommand } from './commands/listen.ts';
import { migrateCommand } from './commands/migrate.ts';
import { planCommand } from './commands/plan.ts';
import { probeCommand } from './commands/probe.ts';
import { statusCommand } from './commands/status.ts';
import { ExitCode, exitCodeOf } from './exit-codes.ts';
import { type Action, output, type Runner, type Streams } from './output.ts';
import { UsageError } from './usage-error.ts';

const VERSION: string = (createRequire(import.meta.url)('../package.json') as { version: string }).version;

/** Runs `ferry` with `argv` (without node and the script); resolves with the exit code. */
export async function main(argv: readonly string[], io: Streams = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  let code: number = ExitCode.OK;
  let json = false;
  const run: Runner =
    <V, A extends unknown[]>(action: Action<V, A>) =>
    async (...params: unknown[]): Promise<void> => {
      // Commander passes the positional arguments first, then the options, then the command.
      const values = params.at(-2) as V & { readonly json?: boolean };
      json = values.json ?? false;
      code = await action(output(json, io), values, ...(params.slice(0, -2) as A));
    };
  const program = new Command('ferry')
    .description('Ferry live migration: move a running guest between hosts.')
    .version(VERSION)
    .showHelpAfterError('(ferry --help for usage)')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .addHelpText(
      'after',
      '\nExit codes: 0 done; 1 failed (the guest runs on at the source); 2 bad usage; 3 refused by the destination;\n' +
        '4 destination unreachable; 5 outcome unknown after COMMIT (the source guest stays paused); 130 cancelled.\n' +
        'Keys come from --psk-file or $FERRY_PSK_HEX, never from the command line. DEBUG=ferry:* logs every layer.',
    )
    .exitOverride();
  const commands = [
    listenCommand(run),
    migrateCommand(run),
    probeCommand(run),
    planCommand(run),
    statusCommand(run),
    benchCommand((c) => {
      code = c;
    }),
  ];
  for (const c of commands)
    program.addCommand(c.exitOverride().configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) }));
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return ExitCode.OK;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (err) {
    return failure(err, json, io);
  }
}

/** The exit code for what a command threw, said once on stderr (or as JSON with --json). */
function failure(err: unknown, json: boolean, io: Streams): number {
  if (err instanceof CommanderError) {
    // Commander has printed the message (or the help) already.
    return err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0 ? ExitCode.OK : ExitCode.USAGE;
  }
  const ferry = err instanceof FerryError ? err : undefined;
  const exit = err instanceof UsageError ? ExitCode.USAGE : ferry ? exitCodeOf(ferry) : ExitCode.FAILED;
  const code = ferry?.code ?? (err instanceof UsageError ? 'USAGE' : 'ERROR');
  const message = err instanceof Error ? err.message : String(err);
  if (json) io.stdout.write(`${JSON.stringify({ event: 'failed', code, message })}\n`);
  io.stderr.write(`ferry: ${ferry ? `${code}: ` : ''}${message}\n`);
  return exit;
}
