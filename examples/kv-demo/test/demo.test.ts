import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import type { DemoReport } from '../src/launcher/report.ts';

const exampleDir = fileURLToPath(new URL('..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'kv-demo-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** Runs the real demo (launcher, two host processes, guest workers, real TCP) and reads its JSON report. */
async function runDemo(name: string, flags: string[]): Promise<{ code: number | null; output: string; report: DemoReport }> {
  const jsonPath = join(scratch, `${name}.json`);
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/main.ts',
      '--headless',
      '--memory-mib',
      '64',
      '--warmup-ms',
      '800',
      '--after-ms',
      '500',
      '--json',
      jsonPath,
      ...flags,
    ],
    { cwd: exampleDir, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGINT'), 100_000);
    child.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  let report: DemoReport;
  try {
    report = JSON.parse(readFileSync(jsonPath, 'utf8')) as DemoReport;
  } catch (err) {
    throw new Error(`the demo wrote no JSON report (exit code ${code}); its output:\n${output}`, { cause: err });
  }
  return { code, output, report };
}

describe('kv-demo', () => {
  it('migrates the guest while the client pings it, with no wrong answer and no lost write', async () => {
    const { code, output, report } = await runDemo('completed', []);
    expect(report.problems, output).toEqual([]);
    expect(report.ok).toBe(true);
    expect(code).toBe(0);
    expect(report.outcome).toBe('completed');
    expect(report.digest.matched).toBe(true);
    expect(report.digest.destination).toBe(report.digest.source);
    expect(report.client.wrongAnswers).toBe(0);
    expect(report.client.lostWrites).toBe(0);
    expect(report.client.unanswered).toBe(0);
    expect(report.client.answered).toBeGreaterThan(0);
    expect(report.client.answered).toBe(report.client.sent);
    expect(report.client.keysChecked).toBe(report.client.keysWritten);
    expect(report.migration?.rounds).toBeGreaterThanOrEqual(1);
    expect(report.migration?.downtimeMs).toBeGreaterThan(0);
    expect(report.migration?.memoryBytes).toBe(64 * 1024 * 1024);
    expect(report.guest.before).toContain('host=source generation=1');
    expect(report.guest.after).toContain('host=destination generation=2');
    expect(report.holds.map((h) => h.releasedTo)).toEqual(['destination']);
  });

  it('rolls back to the source when the destination refuses the device state, still losing nothing', async () => {
    const { code, output, report } = await runDemo('rollback', ['--inject-failure', 'load-device-state']);
    expect(code).not.toBe(0);
    expect(report.ok).toBe(false);
    expect(report.outcome).toBe('failed');
    expect(report.failure?.message).toContain('injected failure');
    expect(report.problems, output).toHaveLength(1);
    expect(report.client.wrongAnswers).toBe(0);
    expect(report.client.lostWrites).toBe(0);
    expect(report.client.unanswered).toBe(0);
    expect(report.client.answered).toBeGreaterThan(0);
    expect(report.guest.after).toContain('host=source generation=1');
    expect(report.holds.map((h) => h.releasedTo)).toEqual(['source']);
  });
});
