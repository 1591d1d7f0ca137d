import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findChromium, type RunningDemo, startDemo } from './console-browser.ts';

/**
 * The management console in a real headless browser (Debian's chromium, driven by playwright-core)
 * against the real demo: three host processes, the ping, the engine. Skips only where no chromium
 * is installed (CI installs it: examples/kv-demo/scripts/install-browser.sh).
 */
const executablePath = findChromium();
const shots = fileURLToPath(new URL('../.output/console/', import.meta.url));

/** What the page recorded (static/app.js's window.ferryConsole). */
interface Seen {
  readonly messages: Record<string, number>;
  readonly migrationStartT?: number;
  readonly migrationEndT?: number;
  readonly ping: [number[], number[]];
  readonly report?: { ok: boolean; outcome: string; wrong: number; lost: number; longestGapMs: number; reason?: string };
}

// A capped link and a light churn make the migration last a few seconds: long enough to watch.
const FLAGS = ['--memory-mib', '32', '--churn-pages-per-sec', '1000', '--max-mbps', '160', '--warmup-ms', '300', '--after-ms', '600'];
// Runs that fail on purpose get a slower link: round 0 alone takes about 6 s, so the button is pressed while it runs.
const SLOW_FLAGS = [...FLAGS, '--max-mbps', '40'];

describe.skipIf(!executablePath)('the console in a headless browser', () => {
  let browser: Browser;
  /** Script errors in the page: any is a failure. */
  const pageErrors: string[] = [];
  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    // As root (CI) chromium needs --no-sandbox.
    browser = await chromium.launch({ executablePath: executablePath as string, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
  });

  async function open(demo: RunningDemo): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1700 } });
    page.on('pageerror', (err) => pageErrors.push(err.message));
    await page.goto(demo.url);
    await page.waitForSelector('#connection[data-state="live"]');
    await page.waitForSelector('#target option[value="destination"]', { state: 'attached' });
    return page;
  }

  const seen = (page: Page): Promise<Seen> => page.evaluate(() => (globalThis as unknown as { ferryConsole: Seen }).ferryConsole);

  it('checks (accepted and refused), plans, migrates live, and shows 0 wrong and 0 lost', async () => {
    const demo = await startDemo(FLAGS);
    let code: number | null;
    try {
      const page = await open(demo);

      // Refused: the 16 KiB-page host, by the engine's own check.
      await page.selectOption('#target', 'other');
      await page.click('#btn-check');
      await page.waitForSelector('#check-result[data-accepted="false"]');
      expect(pageErrors).toEqual([]);
      expect(await page.textContent('#check-result')).toContain('FERRY_INCOMPATIBLE_GUEST');
      expect(await page.textContent('#check-result')).toContain('page size 4096');
      await page.screenshot({ path: join(shots, '1-refused.png'), fullPage: true });

      // Accepted, then the plan with its recommendation.
      await page.selectOption('#target', 'destination');
      await page.click('#btn-check');
      await page.waitForSelector('#check-result[data-accepted="true"]');
      await page.click('#btn-plan');
      await page.waitForSelector('#plan-result tr.recommended');
      expect(await page.textContent('#plan-result')).toContain('recommended:');

      // Migrate from the UI; updates must arrive while it runs, not at the end.
      await page.click('#btn-migrate');
      // In one look at the page: status updates drawn, the migration not over, the page saying so.
      await page.waitForFunction(() => {
        const s = (globalThis as unknown as { ferryConsole: Seen }).ferryConsole;
        const doc = (
          globalThis as unknown as { document: { querySelector(q: string): { dataset: Record<string, string>; disabled: boolean } } }
        ).document;
        return (
          (s.messages.status ?? 0) >= 2 &&
          s.migrationEndT === undefined &&
          doc.querySelector('#migration-state').dataset.state === 'migrating' &&
          !doc.querySelector('#btn-cancel').disabled
        );
      });
      await page.screenshot({ path: join(shots, '2-migrating.png'), fullPage: true });

      await page.waitForFunction(() => (globalThis as unknown as { ferryConsole: Seen }).ferryConsole.report !== undefined, undefined, {
        timeout: 90_000,
      });
      await page.waitForTimeout(300); // one more frame for the charts
      await page.screenshot({ path: join(shots, '3-report.png'), fullPage: true });
      const s = await seen(page);
      expect(s.report, demo.output()).toMatchObject({ ok: true, outcome: 'completed', wrong: 0, lost: 0 });
      expect(await page.textContent('#wrong')).toBe('0');
      expect(await page.textContent('#lost')).toBe('0');
      expect(await page.textContent('#report')).toContain('wrong answers    0');

      // The ping plot has points from before, during and after the migration.
      const start = s.migrationStartT as number;
      const end = s.migrationEndT as number;
      expect(end).toBeGreaterThan(start);
      const [ts] = s.ping;
      expect(ts.filter((t) => t < start).length).toBeGreaterThan(0);
      expect(ts.filter((t) => t >= start && t <= end).length).toBeGreaterThan(0);
      expect(ts.filter((t) => t > end).length).toBeGreaterThan(0);
      // The phase timeline went through to the resume, and the guest session saw the other host.
      expect(await page.getAttribute('li[data-phase="resume"]', 'data-state')).toBe('done');
      expect(await page.textContent('#session')).toContain('host=destination');
      expect(pageErrors).toEqual([]);
      await page.close();
    } finally {
      code = await demo.stop();
    }
    expect(code, demo.output()).toBe(0);
  });

  /**
   * A slow migration interrupted by `button` once it runs: `onFailed` looks at the page when it
   * shows the failure, `onReport` once the report is in. The report's exit code is 1 (it failed).
   */
  async function interrupt(
    button: '#btn-kill' | '#btn-cancel',
    onFailed: (page: Page) => Promise<void>,
    onReport: (page: Page) => Promise<void>,
  ): Promise<void> {
    const demo = await startDemo(SLOW_FLAGS);
    let code: number | null;
    try {
      const page = await open(demo);
      await page.click('#btn-migrate');
      await page.waitForFunction(() => ((globalThis as unknown as { ferryConsole: Seen }).ferryConsole.messages.status ?? 0) >= 1);
      await page.click(button);
      await page.waitForSelector('#migration-state[data-state="failed"]');
      await onFailed(page);
      await page.waitForFunction(() => (globalThis as unknown as { ferryConsole: Seen }).ferryConsole.report !== undefined, undefined, {
        timeout: 60_000,
      });
      await onReport(page);
      expect(pageErrors).toEqual([]);
      await page.close();
    } finally {
      code = await demo.stop();
    }
    expect(code, demo.output()).toBe(1);
  }

  it('shows the failure honestly: the destination killed mid-migration, the guest stays on the source', async () => {
    await interrupt(
      '#btn-kill',
      async (page) => {
        expect(await page.textContent('#action-error')).toContain('runs on the source');
      },
      async (page) => {
        await page.screenshot({ path: join(shots, '4-killed.png'), fullPage: true });
        expect((await seen(page)).report).toMatchObject({ ok: false, outcome: 'rolled back', wrong: 0, lost: 0 });
        expect(await page.textContent('#hosts')).toContain('down');
        expect(await page.textContent('#session')).not.toContain('host=destination');
      },
    );
  });

  it('cancels from the UI: the guest keeps running on the source, nothing lost', async () => {
    await interrupt(
      '#btn-cancel',
      async (page) => {
        expect(await page.textContent('#action-error')).toContain('FERRY_ABORTED');
        expect(await page.textContent('#action-error')).toContain('runs on the source');
      },
      async (page) => {
        expect((await seen(page)).report).toMatchObject({ ok: false, outcome: 'rolled back', wrong: 0, lost: 0 });
      },
    );
  });
});
