/**
 * `pnpm bench [scan|migrate|codec|dirty|predict|tls|postcopy|transport|all] [--size-mib N] [--repeats N] [--verify memory|sent] [--quick]`: runs benchmarks, prints tables, and
 * writes JSON (with the machine described) and charts to .bench-out/.
 *
 * `pnpm bench blackout [--quick] [--repeats N] [--size-mib N] [--only <row>] [--strategies a,b]`: the client-visible
 * blackout per workload and strategy (separate processes, heartbeats); not part of `all`.
 *
 * `pnpm bench verify [--quick] [--repeats N]`: what each verification costs during the pause, at 256 MiB to 4 GiB.
 *
 * `pnpm bench qemu [--size-mib N] [--repeats N] [--quick]`: examples/qemu's VM moved by QEMU's own migration and by Ferry,
 * interleaved (needs examples/qemu/scripts/install.sh); not part of `all`.
 *
 * `pnpm bench faults [--quick] [--seed N] [--trial K | --first K --trials N] [--soak N] [--fuzz N]`: the fault
 * campaign (docs/reliability.md); not part of `all`.
 */
import { parseArgs } from 'node:util';
import { codecBench } from './codec.ts';
import { dirtyBench } from './dirty.ts';
import { postcopyBench } from './postcopy.ts';
import { predictBench } from './predict.ts';
import { tlsBench } from './tls.ts';
import { transportBench } from './transport.ts';
import { migrateBench } from './migrate.ts';
import { scanBench } from './scan.ts';
import { qemuBench } from './qemu.ts';
import { faultsBench } from './faults/campaign.ts';
import { blackoutBench } from './blackout/blackout.ts';
import { verifyBench } from './verify.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    'size-mib': { type: 'string' },
    quick: { type: 'boolean', default: false },
    repeats: { type: 'string' },
    verify: { type: 'string', default: 'memory' },
    'no-take-before-send': { type: 'boolean', default: false },
    seed: { type: 'string' },
    trial: { type: 'string' },
    first: { type: 'string' },
    trials: { type: 'string' },
    soak: { type: 'string' },
    fuzz: { type: 'string' },
    only: { type: 'string' },
    strategies: { type: 'string' },
  },
});
const which = positionals[0] ?? 'all';
const quick = values.quick;

if (which === 'scan' || which === 'all') {
  await scanBench({ sizeMiB: Number(values['size-mib'] ?? (quick ? 64 : 1024)), timeMs: quick ? 300 : 1500 });
}
if (which === 'migrate' || which === 'all') {
  await migrateBench({
    sizeMiB: Number(values['size-mib'] ?? (quick ? 64 : 256)),
    rates: quick ? [0, 20_000] : [0, 5_000, 20_000, 50_000, 100_000],
    repeats: Number(values.repeats ?? (quick ? 1 : 3)),
    fillFraction: 0.5,
    workingSet: 0.25,
    maxDowntimeMs: 300,
    verify: values.verify === 'sent' ? 'sent' : 'memory',
    noTakeBeforeSend: values['no-take-before-send'],
  });
}
if (which === 'codec' || which === 'all') {
  await codecBench({
    pages: quick ? 1024 : 4096,
    timeMs: quick ? 200 : 1000,
    e2eSizeMiB: quick ? 32 : 256,
    cappedSizeMiB: quick ? 16 : 128,
    repeats: Number(values.repeats ?? (quick ? 1 : 3)),
  });
}
if (which === 'dirty' || which === 'all') {
  await dirtyBench({ timeMs: quick ? 200 : 1000, scanMiB: quick ? 64 : 256 });
}
if (which === 'predict' || which === 'all') {
  await predictBench({
    sizeMiB: Number(values['size-mib'] ?? (quick ? 32 : 128)),
    repeats: Number(values.repeats ?? (quick ? 1 : 2)),
    maxDowntimeMs: 100,
  });
}
if (which === 'tls' || which === 'all') {
  await tlsBench({ sizeMiB: Number(values['size-mib'] ?? (quick ? 32 : 256)), repeats: Number(values.repeats ?? (quick ? 1 : 3)) });
}
if (which === 'postcopy' || which === 'all') {
  await postcopyBench({
    sizesMiB: quick ? [32, 64] : [256, 512, 1024, 2048, 4096],
    sizeMiB: Number(values['size-mib'] ?? (quick ? 32 : 256)),
    repeats: Number(values.repeats ?? (quick ? 1 : 3)),
  });
}
if (which === 'transport' || which === 'all') {
  await transportBench({
    sizeMiB: Number(values['size-mib'] ?? (quick ? 64 : 1024)),
    linkSizeMiB: quick ? 32 : 256,
    repeats: Number(values.repeats ?? (quick ? 1 : 2)),
  });
}
if (which === 'qemu') {
  // Not part of `all`: it boots QEMU VMs (examples/qemu/scripts/install.sh first) and takes minutes.
  await qemuBench({ ramMiB: Number(values['size-mib'] ?? (quick ? 256 : 512)), repeats: Number(values.repeats ?? 1), quick });
}
if (which === 'faults') {
  const one = values.trial !== undefined;
  const seed = Number(values.seed ?? 1);
  const result = await faultsBench({
    seed,
    first: Number(values.trial ?? values.first ?? 0),
    trials: one ? 1 : Number(values.trials ?? (quick ? 60 : 310)),
    soakMigrations: Number(values.soak ?? (one ? 0 : quick ? 30 : 100)),
    soakSizeMiB: 16,
    fuzzCases: Number(values.fuzz ?? (one ? 0 : quick ? 50_000 : 1_000_000)),
    name: one ? `faults-seed${seed}-trial${values.trial}` : quick ? 'faults-quick' : 'faults',
  });
  const bad = result.counts.BAD + (result.soak && !result.soak.flat ? 1 : 0) + (result.fuzz?.failures ?? 0);
  process.exitCode = bad > 0 ? 1 : 0;
}
if (which === 'blackout') {
  await blackoutBench({
    repeats: Number(values.repeats ?? (quick ? 1 : 3)),
    memoryMiB: Number(values['size-mib'] ?? (quick ? 256 : 1024)),
    dataMiB: (Number(values['size-mib'] ?? (quick ? 256 : 1024)) * 3) / 4,
    ...(values.only && { only: values.only }),
    ...(values.strategies && { strategies: values.strategies.split(',') as ('precopy' | 'postcopy' | 'hybrid')[] }),
  });
}
if (which === 'verify') {
  await verifyBench({
    sizesMiB: quick ? [64, 256] : [256, 1024, 4096],
    repeats: Number(values.repeats ?? (quick ? 2 : 5)),
    dirtyPages: 2000,
  });
}
if (
  !['verify', 'blackout', 'scan', 'migrate', 'codec', 'dirty', 'predict', 'tls', 'postcopy', 'transport', 'faults', 'qemu', 'all'].includes(which)
) {
  console.error(
    `unknown benchmark "${which}": use verify, blackout, scan, migrate, codec, dirty, predict, tls, postcopy, transport, faults, qemu or all`,
  );
  process.exit(2);
}
