/**
 * Every benchmark by name, with its one-line summary, its options and how `--quick` sizes it:
 * what `pnpm bench` and `ferry bench` both run and print help from.
 */

/** The parsed options a benchmark reads (strings as typed; booleans as flags). */
export interface BenchValues {
  readonly 'size-mib'?: string | undefined;
  readonly repeats?: string | undefined;
  readonly verify?: string | undefined;
  readonly 'no-take-before-send'?: boolean | undefined;
  readonly seed?: string | undefined;
  readonly trial?: string | undefined;
  readonly first?: string | undefined;
  readonly trials?: string | undefined;
  readonly soak?: string | undefined;
  readonly fuzz?: string | undefined;
  readonly quick?: boolean | undefined;
  readonly only?: string | undefined;
  readonly strategies?: string | undefined;
}

export interface Benchmark {
  readonly summary: string;
  /** The options it reads besides `--quick`, as help lines. */
  readonly options: readonly string[];
  /** Runs it; resolves with the process exit code it asks for (0: fine). */
  run(values: BenchValues): Promise<number>;
}

const num = (value: string | undefined, fallback: number): number => Number(value ?? fallback);
const SIZE = '--size-mib N     guest size in MiB';
const REPEATS = '--repeats N      repetitions of each case';

export const BENCHMARKS: Readonly<Record<string, Benchmark>> = {
  scan: {
    summary: 'page-scan throughput (hash + zero scan) against a memory-read baseline',
    options: [SIZE],
    async run(v) {
      const { scanBench } = await import('./scan.ts');
      await scanBench({ sizeMiB: num(v['size-mib'], v.quick ? 64 : 1024), timeMs: v.quick ? 300 : 1500 });
      return 0;
    },
  },
  migrate: {
    summary: 'real migrations between two processes at several dirty rates, each beside a raw socket pipe',
    options: [
      SIZE,
      REPEATS,
      '--verify memory|sent   what the source digest is computed from',
      '--no-take-before-send   take dirty bits only at round start',
    ],
    async run(v) {
      const { migrateBench } = await import('./migrate.ts');
      await migrateBench({
        sizeMiB: num(v['size-mib'], v.quick ? 64 : 256),
        rates: v.quick ? [0, 20_000] : [0, 5_000, 20_000, 50_000, 100_000],
        repeats: num(v.repeats, v.quick ? 1 : 3),
        fillFraction: 0.5,
        workingSet: 0.25,
        maxDowntimeMs: 300,
        verify: v.verify === 'sent' ? 'sent' : 'memory',
        noTakeBeforeSend: v['no-take-before-send'] ?? false,
      });
      return 0;
    },
  },
  codec: {
    summary: 'codecs per page corpus, and compression off against adaptive, uncapped and at 1 Gbit/s',
    options: [REPEATS],
    async run(v) {
      const { codecBench } = await import('./codec.ts');
      await codecBench({
        pages: v.quick ? 1024 : 4096,
        timeMs: v.quick ? 200 : 1000,
        e2eSizeMiB: v.quick ? 32 : 256,
        cappedSizeMiB: v.quick ? 16 : 128,
        repeats: num(v.repeats, v.quick ? 1 : 3),
      });
      return 0;
    },
  },
  dirty: {
    summary: 'dirty-tracker sync costs against their floors, and the kernel tracker cost per write fault',
    options: [],
    async run(v) {
      const { dirtyBench } = await import('./dirty.ts');
      await dirtyBench({ timeMs: v.quick ? 200 : 1000, scanMiB: v.quick ? 64 : 256 });
      return 0;
    },
  },
  predict: {
    summary: 'predicted against measured downtime, and plan() against measured total time',
    options: [SIZE, REPEATS],
    async run(v) {
      const { predictBench } = await import('./predict.ts');
      await predictBench({ sizeMiB: num(v['size-mib'], v.quick ? 32 : 128), repeats: num(v.repeats, v.quick ? 1 : 2), maxDowntimeMs: 100 });
      return 0;
    },
  },
  tls: {
    summary: 'the same migration plain and over mutual TLS',
    options: [SIZE, REPEATS],
    async run(v) {
      const { tlsBench } = await import('./tls.ts');
      await tlsBench({ sizeMiB: num(v['size-mib'], v.quick ? 32 : 256), repeats: num(v.repeats, v.quick ? 1 : 3) });
      return 0;
    },
  },
  postcopy: {
    summary: 'post-copy downtime against size, fault latency, an outrunning guest, pre-paging',
    options: [SIZE, REPEATS],
    async run(v) {
      const { postcopyBench } = await import('./postcopy.ts');
      await postcopyBench({
        sizesMiB: v.quick ? [32, 64] : [256, 512, 1024, 2048, 4096],
        sizeMiB: num(v['size-mib'], v.quick ? 32 : 256),
        repeats: num(v.repeats, v.quick ? 1 : 3),
      });
      return 0;
    },
  },
  transport: {
    summary: '1, 2 and 4 channels against raw sockets, over loopback and a shaped 1 Gbit/s link (root for the link)',
    options: [SIZE, REPEATS],
    async run(v) {
      const { transportBench } = await import('./transport.ts');
      await transportBench({
        sizeMiB: num(v['size-mib'], v.quick ? 64 : 1024),
        linkSizeMiB: v.quick ? 32 : 256,
        repeats: num(v.repeats, v.quick ? 1 : 2),
      });
      return 0;
    },
  },
  faults: {
    summary: 'the fault campaign: seeded faults, kill -9, hostile peers, a soak and fuzzing (docs/reliability.md); not in all',
    options: [
      '--seed N         campaign seed (default 1)',
      '--trial K        reproduce one trial',
      '--first K --trials N   a range of trials',
      '--soak N         soak migrations',
      '--fuzz N         fuzz cases',
    ],
    async run(v) {
      const { faultsBench } = await import('./faults/campaign.ts');
      const one = v.trial !== undefined;
      const seed = num(v.seed, 1);
      const result = await faultsBench({
        seed,
        first: num(v.trial ?? v.first, 0),
        trials: one ? 1 : num(v.trials, v.quick ? 60 : 310),
        soakMigrations: num(v.soak, one ? 0 : v.quick ? 30 : 100),
        soakSizeMiB: 16,
        fuzzCases: num(v.fuzz, one ? 0 : v.quick ? 50_000 : 1_000_000),
        name: one ? `faults-seed${seed}-trial${v.trial}` : v.quick ? 'faults-quick' : 'faults',
      });
      const bad = result.counts.BAD + (result.soak && !result.soak.flat ? 1 : 0) + (result.fuzz?.failures ?? 0);
      return bad > 0 ? 1 : 0;
    },
  },
  blackout: {
    summary: "the blackout a guest's user sees: 1 GiB guest, heartbeats, every workload and strategy, gap against the limit",
    options: [
      SIZE,
      REPEATS,
      '--only TEXT      only the workloads whose name contains TEXT',
      '--strategies a,b  precopy, postcopy, hybrid (default all three)',
    ],
    async run(v) {
      const { blackoutBench } = await import('./blackout/blackout.ts');
      const sizeMiB = num(v['size-mib'], v.quick ? 256 : 1024);
      await blackoutBench({
        repeats: num(v.repeats, v.quick ? 1 : 3),
        memoryMiB: sizeMiB,
        dataMiB: (sizeMiB * 3) / 4,
        ...(v.only && { only: v.only }),
        ...(v.strategies && { strategies: v.strategies.split(',') as ('precopy' | 'postcopy' | 'hybrid')[] }),
      });
      return 0;
    },
  },
  verify: {
    summary: 'what each verification costs while the guest is paused (memory, tracker, sent), 256 MiB to 4 GiB',
    options: [REPEATS],
    async run(v) {
      const { verifyBench } = await import('./verify.ts');
      await verifyBench({ sizesMiB: v.quick ? [64, 256] : [256, 1024, 4096], repeats: num(v.repeats, v.quick ? 2 : 5), dirtyPages: 2000 });
      return 0;
    },
  },
  negotiation: {
    summary: "protocol v4's terms: 64 KiB frames against 16 MiB, an adaptive source held to RAW+ZERO against all encodings",
    options: [SIZE, REPEATS],
    async run(v) {
      const { negotiationBench } = await import('./negotiation.ts');
      await negotiationBench({ sizeMiB: num(v['size-mib'], v.quick ? 32 : 256), repeats: num(v.repeats, v.quick ? 1 : 3) });
      return 0;
    },
  },
  charts: {
    summary: 'draw every chart again from its saved data (docs/benchmarks/*.chart.json, .bench-out/*.chart.json); runs nothing',
    options: [],
    async run() {
      const { redrawCharts } = await import('./charts.ts');
      for (const path of await redrawCharts()) console.log(`wrote ${path}`);
      return 0;
    },
  },
  qemu: {
    summary: "examples/qemu's VM moved by QEMU's own migration and by Ferry, interleaved (examples/qemu/scripts/install.sh first)",
    options: [SIZE, REPEATS],
    async run(v) {
      const { qemuBench } = await import('./qemu.ts');
      await qemuBench({ ramMiB: num(v['size-mib'], v.quick ? 256 : 512), repeats: num(v.repeats, 1), quick: v.quick ?? false });
      return 0;
    },
  },
};

/** What `all` runs: every benchmark but the fault campaign, the blackout, verify and QEMU ones, in this order. */
export const ALL = ['scan', 'migrate', 'codec', 'dirty', 'predict', 'tls', 'postcopy', 'transport'] as const;

/** The options every benchmark's parser knows (for `node:util` parseArgs). */
export const BENCH_OPTIONS = {
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
  help: { type: 'boolean', short: 'h', default: false },
} as const;

/** Help text: every benchmark, or one with its options. `command` is how the user called it. */
export function benchHelp(command: string, name?: string): string {
  const b = name ? BENCHMARKS[name] : undefined;
  if (b && name) {
    return [
      `usage: ${command} ${name} [--quick] ${b.options.length ? '[options]' : ''}`.trimEnd(),
      '',
      b.summary,
      '',
      'options:',
      '  --quick          a short run (small sizes, one repeat)',
      ...b.options.map((o) => `  ${o}`),
      '  -h, --help       this help',
      '',
      'Results: tables on stdout; JSON (with the machine described) and charts in .bench-out/.',
    ].join('\n');
  }
  const width = Math.max(...Object.keys(BENCHMARKS).map((n) => n.length));
  return [
    `usage: ${command} <name> [--quick] [options]    (${command} <name> --help for its options)`,
    '',
    'benchmarks:',
    ...Object.entries(BENCHMARKS).map(([n, x]) => `  ${n.padEnd(width)}  ${x.summary}`),
    `  ${'all'.padEnd(width)}  every benchmark above but faults, at full size (long: tens of minutes)`,
    '',
    'Every figure is a ratio against a baseline measured in the same run. --quick runs a short version.',
  ].join('\n');
}
