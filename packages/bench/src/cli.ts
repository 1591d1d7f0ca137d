/**
 * `pnpm bench <name> [--quick] [options]`: runs a benchmark (see `registry.ts`), prints tables,
 * and writes JSON (with the machine described) and charts to .bench-out/. Without a name, or
 * with `--help`, prints what there is; `all` runs every benchmark but the fault campaign.
 */
import { parseArgs } from 'node:util';
import { ALL, BENCH_OPTIONS, BENCHMARKS, benchHelp } from './registry.ts';

const COMMAND = 'pnpm bench';

/** Parses argv and runs; resolves with the exit code (2: bad usage). */
export async function benchCli(argv: readonly string[], command = COMMAND): Promise<number> {
  let parsed: ReturnType<typeof parseArgs<{ args: string[]; allowPositionals: true; options: typeof BENCH_OPTIONS }>>;
  try {
    parsed = parseArgs({ args: [...argv], allowPositionals: true, options: BENCH_OPTIONS });
  } catch (err) {
    // parseArgs' own words name the bad option; no stack trace for a typo.
    console.error(`${command}: ${err instanceof Error ? err.message : String(err)}\n\n${benchHelp(command)}`);
    return 2;
  }
  const { positionals, values } = parsed;
  const name = positionals[0];
  if (values.help || name === undefined || name === 'help') {
    console.log(benchHelp(command, name === 'help' ? undefined : name));
    return 0;
  }
  if (name !== 'all' && !BENCHMARKS[name]) {
    console.error(`${command}: unknown benchmark "${name}"\n\n${benchHelp(command)}`);
    return 2;
  }
  let code = 0;
  for (const n of name === 'all' ? ALL : [name]) code = Math.max(code, await BENCHMARKS[n]!.run(values));
  return code;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await benchCli(process.argv.slice(2));
