import { Command } from 'commander';
import { ExitCode } from '../exit-codes.ts';
import { statusLines } from '../format.ts';
import type { Output, Runner } from '../output.ts';
import { askStatus, type StatusAnswer, statusDir, statusSockets } from '../status-socket.ts';
import { UsageError } from '../usage-error.ts';

interface StatusValues {
  readonly json: boolean;
}

/** `ferry status`: where this user's running `ferry migrate`s stand. */
export function statusCommand(run: Runner): Command {
  return new Command('status')
    .summary('show running migrations (phase, round, bytes, rates, prediction, elapsed)')
    .description(
      `Asks each running \`ferry migrate\` of this user (their sockets in ${statusDir()}), or the one at [socket]. ` +
        'Exit 0 with at least one answer; 1 if none is running.',
    )
    .argument('[socket]', 'a status socket (as `ferry migrate` prints it)')
    .option('--json', 'one JSON line per migration on stdout', false)
    .action(run(statusAction));
}

async function statusAction(out: Output, _v: StatusValues, socket?: string): Promise<number> {
  const sockets = socket ? [socket] : statusSockets();
  const answers: StatusAnswer[] = [];
  for (const path of sockets) {
    try {
      answers.push(await askStatus(path));
    } catch (err) {
      // A socket left by a migration that was killed: nobody answers.
      if (socket) throw new UsageError(`no migration answers at ${socket}: ${(err as Error).message}`);
    }
  }
  for (const a of answers)
    out.result({ ...a }, () => [`migration ${a.pid} of guest ${a.guest} to ${a.to}:`, ...statusLines(a.status).map((l) => `  ${l}`)]);
  if (answers.length === 0) out.note('no migration is running');
  return answers.length > 0 ? ExitCode.OK : ExitCode.FAILED;
}
