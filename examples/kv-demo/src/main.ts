import { writeFileSync } from 'node:fs';
import { type DemoFlags, FlagError, parseFlags, USAGE, waitsForMigrate } from './flags.ts';
import { Demo } from './launcher/demo.ts';
import { killAllHosts } from './launcher/host-process.ts';
import { formatReport } from './launcher/report.ts';

/**
 * The launcher: `pnpm demo`. Starts the source and destination host processes, the guest's
 * network (a proxy) and a client, migrates the guest while the client pings it, then checks
 * and reports. Exit code 0 only if everything checked out.
 */
const print = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

let flags: DemoFlags;
try {
  // `pnpm demo -- --flag` passes the `--` on.
  const args = process.argv.slice(2);
  flags = parseFlags(args[0] === '--' ? args.slice(1) : args);
} catch (err) {
  const help = err instanceof FlagError && err.message === '';
  if (!help) console.error(`kv-demo: ${(err as Error).message}\n`);
  console.error(USAGE);
  process.exit(help ? 0 : 2);
}

// No host outlives the launcher, whichever way it ends.
process.on('exit', killAllHosts);

const demo = new Demo(flags, print);
let interrupted = false;
/** Set once the report is out: with the console, the launcher serves it until Ctrl-C, then exits with this. */
let finalCode: number | undefined;
const onSignal = (signal: NodeJS.Signals): void => {
  if (finalCode !== undefined) {
    void demo.shutdown().finally(() => process.exit(finalCode));
    return;
  }
  if (interrupted) process.exit(130);
  interrupted = true;
  console.error(`\nkv-demo: ${signal}, stopping the hosts`);
  const force = setTimeout(() => process.exit(130), 5000);
  force.unref();
  void demo.shutdown().finally(() => process.exit(130));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

// The whole run is bounded: warm-up, the migration's own timeout, the after phase and checks.
const budgetMs = flags.warmupMs + flags.afterMs + 240_000;
const watchdog = setTimeout(() => {
  console.error(`kv-demo: did not finish within ${Math.round(budgetMs / 1000)} s; giving up`);
  killAllHosts();
  process.exit(1);
}, budgetMs);
watchdog.unref();
// When a person decides when to migrate there is no deadline until they have seen the report;
// otherwise the run is bounded as --headless is.
const interactive = waitsForMigrate(flags);
if (interactive) clearTimeout(watchdog);

try {
  const report = await demo.run();
  print(formatReport(report));
  if (flags.jsonPath) writeFileSync(flags.jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  process.exitCode = report.ok ? 0 : 1;
  if (demo.consoleUrl && interactive) {
    clearTimeout(watchdog);
    finalCode = process.exitCode;
    print(`the console stays at ${demo.consoleUrl} with the report; Ctrl-C to quit`);
    await new Promise(() => {});
  }
} catch (err) {
  // After Ctrl-C the hosts are going away on purpose; the signal handler reports and exits.
  if (interrupted) await new Promise(() => {});
  const message = (err as Error).message;
  console.error(`\nkv-demo FAILED: ${message}`);
  if (flags.jsonPath) writeFileSync(flags.jsonPath, `${JSON.stringify({ ok: false, outcome: 'error', problems: [message] }, null, 2)}\n`);
  process.exitCode = 1;
} finally {
  await demo.shutdown();
  clearTimeout(watchdog);
}
