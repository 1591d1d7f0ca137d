import { CLAUSES } from './clauses.ts';
import type { Result } from './runner.ts';
import type { Scenario } from './scenario.ts';

export interface RunReport {
  readonly role: 'source' | 'destination';
  /** The implementation under test: the destination's address, or the kit's listening port. */
  readonly implementation: string;
  readonly peerMaxVersion?: number;
  /** The scenarios of the role (those run and those not selected). */
  readonly scenarios: readonly Scenario[];
  readonly results: readonly Result[];
  readonly durationMs: number;
}

export function summary(results: readonly Result[]): { pass: number; fail: number; skip: number } {
  return {
    pass: results.filter((r) => r.status === 'pass').length,
    fail: results.filter((r) => r.status === 'fail').length,
    skip: results.filter((r) => r.status === 'skip').length,
  };
}

/** One line per scenario, aligned, then the totals. */
export function table(r: RunReport): string {
  const rows = r.results.map((x) => [x.status.toUpperCase(), x.id, x.clauses.join(','), `${x.durationMs}`, x.reason]);
  const head = ['RESULT', 'SCENARIO', 'CLAUSES', 'MS', 'DETAIL'];
  const width = head.slice(0, 4).map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i < 4 ? (i === 3 ? c.padStart(width[i]!) : c.padEnd(width[i]!)) : c))
      .join('  ')
      .trimEnd();
  const s = summary(r.results);
  return [
    `ferry-conformance: role ${r.role} against ${r.implementation}${r.peerMaxVersion ? ` (peer speaks up to version ${r.peerMaxVersion})` : ''}`,
    line(head),
    ...rows.map(line),
    `${s.pass} passed, ${s.fail} failed, ${s.skip} skipped in ${(r.durationMs / 1000).toFixed(1)} s`,
  ].join('\n');
}

/** The machine-readable form: the run, every clause, every result. */
export function json(r: RunReport): string {
  return JSON.stringify(
    {
      role: r.role,
      implementation: r.implementation,
      peerMaxVersion: r.peerMaxVersion ?? null,
      summary: summary(r.results),
      durationMs: r.durationMs,
      clauses: CLAUSES,
      scenarios: r.scenarios.map((s) => ({
        id: s.id,
        role: s.role,
        title: s.title,
        clauses: s.clauses,
        ...(s.role === 'destination' && { sourceMust: s.expect }),
        requiresV4: s.requiresV4 ?? false,
        psk: s.psk ?? null,
      })),
      results: r.results,
    },
    null,
    2,
  );
}

/** `--list`: every scenario with its clauses (role destination: in the order migrations get them). */
export function listing(scenarios: readonly Scenario[]): string {
  return scenarios
    .map((s) => {
      const extra = [s.requiresV4 ? 'needs v4' : '', s.psk === 'key' ? 'needs --psk' : s.psk === 'no-key' ? 'without --psk' : '']
        .filter(Boolean)
        .join(', ');
      const must = s.role === 'destination' ? `\n    the source MUST: ${s.expect}` : '';
      return `${s.id}  [${s.clauses.join(', ')}]${extra ? ` (${extra})` : ''}\n    ${s.title}${must}`;
    })
    .join('\n');
}
