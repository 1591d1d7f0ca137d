import { Command } from 'commander';
import { UsageError } from '../usage-error.ts';

/** The benchmarks' command line, loaded by name at run time: a Ferry checkout has it, an install does not. */
const BENCH_MODULE = '@ferry/bench/cli';

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
      let cli: { benchCli(args: readonly string[], command: string): Promise<number> };
      try {
        cli = (await import(BENCH_MODULE)) as typeof cli;
      } catch (err) {
        throw new UsageError(`ferry bench needs packages/bench, in a Ferry checkout: ${(err as Error).message}`);
      }
      setCode(await cli.benchCli(args, 'ferry bench'));
    });
}
