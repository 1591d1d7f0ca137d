/**
 * The soak: two long-lived host processes pass one guest back and forth (A to B, B to A, ...),
 * a writer guest running on the sender each time, and after every migration both report RSS,
 * heap, open fds and handles. Flat means: once warmed up, fds and handles end where they began
 * (the median of the last quarter of the samples against the first quarter's) and RSS grows by less
 * than `RSS_GROWTH_LIMIT_BYTES` over the run (the Theil–Sen slope times the samples), for each host
 * in each role (it holds the guest after receiving, not after sending), the first fifth of the
 * migrations being the warm-up.
 */
import { type HostProcess, startHost } from './host-process.ts';

export const RSS_GROWTH_LIMIT_BYTES: number = 16 * 2 ** 20;
/**
 * RSS swings by the guest's size from one sample to the next (whether a collection has freed the
 * last guest yet): fewer migrations than this say nothing about a trend, and RSS is then reported
 * but not judged (fds and handles always are).
 */
export const RSS_JUDGED_FROM_MIGRATIONS = 50;

export interface SoakSample {
  readonly migration: number;
  readonly host: 'A' | 'B';
  readonly role: 'sent' | 'received';
  readonly rss: number;
  readonly heapUsed: number;
  readonly arrayBuffers: number;
  readonly fds: number;
  readonly handles: number;
}

export interface SoakSeries {
  readonly host: 'A' | 'B';
  /** False when the run was too short to judge RSS (`RSS_JUDGED_FROM_MIGRATIONS`). */
  readonly rssJudged: boolean;
  readonly role: 'sent' | 'received';
  readonly rssFirstMiB: number;
  readonly rssLastMiB: number;
  readonly rssMaxMiB: number;
  /** Least-squares slope of RSS after warm-up, KiB per migration of this series. */
  readonly rssSlopeKiBPerMigration: number;
  readonly fdsFirst: number;
  readonly fdsLast: number;
  readonly fdsMax: number;
  readonly handlesFirst: number;
  readonly handlesLast: number;
  readonly flat: boolean;
}

export interface SoakResult {
  readonly migrations: number;
  readonly completed: number;
  readonly failures: readonly string[];
  readonly series: readonly SoakSeries[];
  readonly flat: boolean;
  readonly samples: readonly SoakSample[];
  readonly ms: number;
}

export async function runSoak(migrations: number, sizeMiB: number, onProgress?: (i: number, line: string) => void): Promise<SoakResult> {
  const started = performance.now();
  const script = new URL('./soak-host.ts', import.meta.url);
  const env = { FERRY_SOAK_MIB: String(sizeMiB) };
  const hosts: Record<'A' | 'B', HostProcess> = {
    A: await startHost(script, { ...env, FERRY_SOAK_FIRST: '1' }, ['--expose-gc']),
    B: await startHost(script, env, ['--expose-gc']),
  };
  const samples: SoakSample[] = [];
  const failures: string[] = [];
  let completed = 0;
  try {
    for (let i = 0; i < migrations; i++) {
      const [from, to] = i % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const);
      hosts[to].send({ listen: true });
      const { port } = (await hosts[to].next('port')) as { port: number };
      hosts[from].send({ send: port });
      const [sent, received] = (await Promise.all([hosts[from].next('sent'), hosts[to].next('received')])) as [
        { digest?: string; error?: string; totalMs?: number },
        { digest?: string; error?: string },
      ];
      if (sent.error || received.error) failures.push(`migration ${i}: ${sent.error ?? ''} ${received.error ?? ''}`.trim());
      else if (sent.digest !== received.digest)
        failures.push(`migration ${i}: digests differ (${sent.digest} sent, ${received.digest} received)`);
      else completed++;
      for (const [host, role] of [
        [from, 'sent'],
        [to, 'received'],
      ] as const) {
        hosts[host].send({ stats: true });
        const s = (await hosts[host].next('stats')) as Omit<SoakSample, 'migration' | 'host' | 'role'>;
        samples.push({
          migration: i,
          host,
          role,
          rss: s.rss,
          heapUsed: s.heapUsed,
          arrayBuffers: s.arrayBuffers,
          fds: s.fds,
          handles: s.handles,
        });
      }
      const a = samples.at(-1)!;
      onProgress?.(
        i,
        `${from}->${to} ${sent.error ?? received.error ?? 'ok'}${sent.totalMs ? ` ${Math.round(sent.totalMs)} ms` : ''}, ${to} rss ${(a.rss / 2 ** 20).toFixed(0)} MiB, fds ${a.fds}`,
      );
      if (sent.error || received.error) break;
    }
  } finally {
    for (const h of Object.values(hosts)) h.send({ exit: true });
    await Promise.race([Promise.all(Object.values(hosts).map((h) => h.exited)), new Promise((r) => setTimeout(r, 3000))]);
    for (const h of Object.values(hosts)) h.kill();
  }
  // The first fifth of the run warms up (allocator arenas, JIT, the kernels' pools).
  const warmup = Math.max(2, Math.round(migrations / 5));
  const series = (['A', 'B'] as const).flatMap((host) =>
    (['sent', 'received'] as const).map((role) => summarize(samples, host, role, warmup, migrations >= RSS_JUDGED_FROM_MIGRATIONS)),
  );
  return {
    migrations,
    completed,
    failures,
    series,
    flat: failures.length === 0 && series.every((s) => s.flat),
    samples,
    ms: Math.round(performance.now() - started),
  };
}

function median(xs: readonly number[]): number {
  const v = [...xs].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length === 0 ? 0 : v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** Theil–Sen: the median of the slopes between every two samples; one odd sample (a collection that came late) does not tilt it. */
function robustSlope(ys: readonly number[]): number {
  const slopes: number[] = [];
  for (let i = 0; i < ys.length; i++) for (let j = i + 1; j < ys.length; j++) slopes.push((ys[j]! - ys[i]!) / (j - i));
  return median(slopes);
}

/** Exported for re-reading a result's samples. */
export function summarize(
  samples: readonly SoakSample[],
  host: 'A' | 'B',
  role: 'sent' | 'received',
  warmup: number,
  rssJudged: boolean,
): SoakSeries {
  const all = samples.filter((s) => s.host === host && s.role === role);
  const warm = all.filter((s) => s.migration >= warmup);
  const use = warm.length >= 2 ? warm : all;
  const first = use[0];
  const last = use.at(-1);
  const mib = (b: number): number => Math.round((b / 2 ** 20) * 10) / 10;
  if (!first || !last) {
    return {
      host,
      role,
      rssJudged,
      rssFirstMiB: 0,
      rssLastMiB: 0,
      rssMaxMiB: 0,
      rssSlopeKiBPerMigration: 0,
      fdsFirst: 0,
      fdsLast: 0,
      fdsMax: 0,
      handlesFirst: 0,
      handlesLast: 0,
      flat: true,
    };
  }
  const ys = use.map((s) => s.rss);
  const slope = robustSlope(ys);
  // Fds and handles: the last quarter's median against the first quarter's (a socket still closing
  // when one sample is taken is not a leak; a leak raises every sample after it).
  const quarter = Math.max(1, Math.floor(use.length / 4));
  const head = (f: (s: SoakSample) => number): number => median(use.slice(0, quarter).map(f));
  const tail = (f: (s: SoakSample) => number): number => median(use.slice(-quarter).map(f));
  return {
    host,
    role,
    rssJudged,
    rssFirstMiB: mib(first.rss),
    rssLastMiB: mib(last.rss),
    rssMaxMiB: mib(Math.max(...ys)),
    rssSlopeKiBPerMigration: Math.round(slope / 1024),
    fdsFirst: first.fds,
    fdsLast: last.fds,
    fdsMax: Math.max(...use.map((s) => s.fds)),
    handlesFirst: first.handles,
    handlesLast: last.handles,
    flat:
      tail((s) => s.fds) <= head((s) => s.fds) &&
      tail((s) => s.handles) <= head((s) => s.handles) &&
      // RSS only where there are migrations enough to tell a trend from the collector's noise.
      (!rssJudged || slope * use.length <= RSS_GROWTH_LIMIT_BYTES),
  };
}
