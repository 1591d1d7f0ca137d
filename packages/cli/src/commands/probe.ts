import { DEFAULT_PAGE_SIZE, type MemoryLayout, probe } from '@ferry/engine';
import { Command } from 'commander';
import { adapter } from '../adapters/index.ts';
import { parseAddress, parseInteger } from '../address.ts';
import { ExitCode } from '../exit-codes.ts';
import { ms, rate } from '../format.ts';
import { adapterOptions, type GuestValues, guestOptions, type SecurityValues, security, securityOptions } from '../options.ts';
import type { Output, Runner } from '../output.ts';

interface ProbeValues extends SecurityValues, GuestValues {
  readonly to: string;
  readonly measureMib: string;
}

/** `ferry probe`: would the destination take this guest, and how fast is the link? */
export function probeCommand(run: Runner): Command {
  const cmd = new Command('probe')
    .summary('ask a destination whether it would take a guest, and measure the link')
    .description(
      'Sends a HELLO with the probe intent for the guest from --guest (or a one-region guest of --size-mib, default 64) ' +
        'and reports the answer, the round trip and, with --measure-mib, the bandwidth. Exit 0 if accepted, 3 if refused.',
    )
    .requiredOption('--to <host:port>', 'the destination')
    .option('--measure-mib <n>', 'bytes to push to measure bandwidth (MiB, at most 256; 0: none)', '16')
    .option('--json', 'one JSON line on stdout', false);
  guestOptions(cmd, false);
  securityOptions(cmd);
  return cmd.action(run(probeAction));
}

async function probeAction(out: Output, v: ProbeValues): Promise<number> {
  const sec = security(v);
  const to = parseAddress(v.to, '--to');
  let layout: MemoryLayout;
  if (v.guest !== undefined) {
    const guest = await adapter(v.guest).source(adapterOptions(v));
    layout = guest.memory.layout;
    await guest.close();
  } else {
    const sizeMiB = adapterOptions(v).sizeMiB ?? 64;
    layout = { pageSize: DEFAULT_PAGE_SIZE, regions: [{ name: 'ram0', sizeBytes: sizeMiB * 2 ** 20 }] };
  }
  const answer = await probe({ ...to, ...sec, layout, measureBytes: parseInteger(v.measureMib, '--measure-mib', 0, 256) * 2 ** 20 });
  out.result({ ...answer }, () =>
    answer.accepted
      ? [
          `accepted (protocol version ${answer.version}), round trip ${ms(answer.rttMs)}` +
            (answer.bandwidthBytesPerSec ? `, bandwidth ${rate(answer.bandwidthBytesPerSec)}` : ''),
        ]
      : [`refused: ${answer.code}: ${answer.reason}`],
  );
  return answer.accepted ? ExitCode.OK : ExitCode.REFUSED;
}
