import { Command } from 'commander';
import { UsageError } from '../usage-error.ts';

/**
 * `ferry bench <name>`: the benchmarks of packages/bench (a Ferry checkout), with their own
 * parser and help, so `ferry bench migrate --quick` is `pnpm bench migrate --quick`.
 */
export function benchCommand(setCode: (code: number) => void): Command {
  return new Command('bench')
    .summary('run a benchmark (ferry bench --help lists them)')
    .argument('[args...]', 'a benchmark name and its options')
    .allowUnknownOption()
    .helpOption(false)
    .action(async (args: string[]) => {
      let cli: typeof import('@ferry/bench/cli');
      try {
        cli = await import('@ferry/bench/cli');
      } catch (err) {
        throw new UsageError(`ferry bench needs packages/bench, in a Ferry checkout: ${(err as Error).message}`);
      }
      setCode(await cli.benchCli(args, 'ferry bench'));
    });
}
