/**
 * `pnpm --filter @ferry/example-qemu start [--mover ferry|qemu] [--ram-mib N] [--hot-mib N] [--rate N]
 *  [--max-downtime-ms N] [--json FILE] [--console] [--console-port N]`: boots a QEMU VM, migrates it
 * once while a ping and a TCP client watch, and prints what the guest and the clients saw. With
 * `--console` the web console shows the run live (the VM's serial console, every ping, the migration).
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { QemuConsole } from './qemu-console.ts';
import { runScenario, type ScenarioReport } from './scenario.ts';

const { values } = parseArgs({
  options: {
    mover: { type: 'string', default: 'ferry' },
    'ram-mib': { type: 'string', default: '256' },
    'hot-mib': { type: 'string', default: '64' },
    rate: { type: 'string', default: '5000' },
    'max-downtime-ms': { type: 'string', default: '300' },
    accel: { type: 'string', default: 'tcg' },
    json: { type: 'string' },
    console: { type: 'boolean', default: false },
    'console-port': { type: 'string' },
  },
});
const maxDowntimeMs = Number(values['max-downtime-ms']);
// Off a multiple of 256 KiB: QEMU 7.2 under TCG loses dirty pages otherwise (README.md).
const ramBytes = Number(values['ram-mib']) * 1024 * 1024 - 8192;
const ratePagesPerSec = Number(values.rate);
const web =
  values.console || values['console-port'] !== undefined
    ? await QemuConsole.start({
        ...(values['console-port'] !== undefined && { port: Number(values['console-port']) }),
        ramBytes,
        ratePagesPerSec,
        maxDowntimeMs,
      })
    : undefined;
if (web) console.log(`console ${web.url}  (open it in a browser: the VM's serial console, every ping, the migration live)`);
const report = await runScenario({
  mover: values.mover === 'qemu' ? { kind: 'qemu', options: { maxDowntimeMs } } : { kind: 'ferry', options: { maxDowntimeMs } },
  ramBytes,
  hotMiB: Number(values['hot-mib']),
  ratePagesPerSec,
  accel: values.accel === 'kvm' ? 'kvm' : 'tcg',
  ...(web && { observer: web.observer }),
});
const text = describe(report);
console.log(text);
if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
process.exitCode = ok(report) ? 0 : 1;
if (web) {
  web.finish(report, text, ok(report));
  if (process.stdin.isTTY) {
    console.log(`the console stays at ${web.url} with the report; Ctrl-C to quit`);
    await new Promise<void>((resolve) => process.once('SIGINT', resolve));
  }
  await web.close();
}

/** The run passed: moved, the guest's checker clean, the state read back, the source gone. */
export function ok(r: ScenarioReport): boolean {
  return (
    r.error === undefined && r.checker.bad === 0 && r.state.readBack === r.state.written && r.runningOn === 'destination' && r.sourceExited
  );
}

function describe(r: ScenarioReport): string {
  const m = r.migration;
  const gap = (g?: { longestGapMs: number; answered: number }) => (g ? `${g.longestGapMs.toFixed(1)} ms (${g.answered} answers)` : 'n/a');
  return [
    `mover ${r.mover}, ${r.accel}, ${r.network} network, guest RAM ${(r.ramBytes / 2 ** 20).toFixed(2)} MiB`,
    m
      ? `moved in ${m.totalMs.toFixed(0)} ms, downtime ${m.downtimeMs.toFixed(0)} ms${m.pausedMs === undefined ? '' : ` (stop to cont ${m.pausedMs.toFixed(0)} ms)`}, ${(m.bytesSent / 2 ** 20).toFixed(1)} MiB sent`
      : `failed: ${r.error}`,
    `longest gap: heartbeat ${r.heartbeatGapMs.toFixed(1)} ms (switchover ${r.switchoverGapMs?.toFixed(1) ?? 'n/a'} ms), ping ${gap(r.ping)}, tcp ${gap(r.tcp)}`,
    `guest checker: ${r.checker.checked} page checks, ${r.checker.bad} bad; ${r.checker.heartbeatsAfter} heartbeats after the move`,
    `service: wrote "${r.state.written}", read back "${r.state.readBack}"; runs on the ${r.runningOn}, source exited: ${r.sourceExited}`,
  ].join('\n');
}
