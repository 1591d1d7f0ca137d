import { plan } from '@ferry/engine';
import { Command } from 'commander';
import { adapter } from '../adapters/index.ts';
import { parseAddress, parseInteger, parseRate } from '../address.ts';
import { ExitCode } from '../exit-codes.ts';
import { bytes, ms } from '../format.ts';
import { adapterOptions, type GuestValues, guestOptions, type SecurityValues, security, securityOptions } from '../options.ts';
import type { Output, Runner } from '../output.ts';

interface PlanValues extends SecurityValues, GuestValues {
  readonly to: string;
  readonly sampleMs: string;
  readonly probeMib: string;
  readonly maxDowntimeMs: string;
  readonly maxBandwidth?: string;
}

/** `ferry plan`: what each strategy would cost, before anything moves. */
export function planCommand(run: Runner): Command {
  const cmd = new Command('plan')
    .summary('predict each strategy for a guest and a destination, and recommend one')
    .description(
      'Measures the link to the destination, samples the guest (from --guest) for its dirty rate, zero pages and ' +
        'compressibility, and predicts downtime, total time and bytes for each strategy. Moves no guest memory. The ' +
        'recommendation is printed as the `ferry migrate` options that select it.',
    )
    .requiredOption('--to <host:port>', 'the destination')
    .option('--sample-ms <ms>', 'how long to sample the dirty rate (milliseconds)', '1000')
    .option('--probe-mib <n>', 'bytes to push to measure the link (MiB)', '64')
    .option('--max-downtime-ms <ms>', 'the downtime limit to plan for (milliseconds)', '300')
    .option('--max-bandwidth <rate>', 'the pre-copy cap to plan for, bytes/s (k, M, G)')
    .option('--json', 'one JSON line on stdout', false);
  guestOptions(cmd, true);
  securityOptions(cmd);
  return cmd.action(run(planAction));
}

async function planAction(out: Output, v: PlanValues): Promise<number> {
  const sec = security(v);
  const to = parseAddress(v.to, '--to');
  const guest = await adapter(v.guest!).source(adapterOptions(v));
  try {
    const p = await plan({
      ...to,
      ...sec,
      memory: guest.memory,
      tracker: guest.tracker,
      sampleMs: parseInteger(v.sampleMs, '--sample-ms', 1),
      probeBytes: parseInteger(v.probeMib, '--probe-mib', 1, 256) * 2 ** 20,
      maxDowntimeMs: parseInteger(v.maxDowntimeMs, '--max-downtime-ms', 1),
      ...(v.maxBandwidth !== undefined && { maxBandwidth: parseRate(v.maxBandwidth, '--max-bandwidth') }),
    });
    out.result({ ...p }, () => [
      ...p.strategies.map(
        (s) =>
          `${s.strategy.padEnd(12)} ${s.converges ? 'converges ' : 'no        '} downtime ${ms(s.downtimeMs).padStart(10)}  total ${ms(s.totalMs).padStart(10)}  ${bytes(s.bytes)}`,
      ),
      `recommended: --strategy ${p.options.strategy} --compression ${p.options.compression}`,
      ...p.reasons.map((r) => `  ${r}`),
    ]);
    return ExitCode.OK;
  } finally {
    await guest.close().catch(() => {});
  }
}
