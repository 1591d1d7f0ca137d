/**
 * Takes the console screenshots in docs/console/ from a real run of the demo at its default size:
 * `node --import tsx scripts/console-screenshots.ts [out-dir]` from examples/kv-demo (needs chromium,
 * scripts/install-browser.sh). Checks compatibility (refused, then accepted), plans, migrates, and
 * shoots the page while the migration runs (on a link capped at 400 Mbit/s) and once the report is in.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { findChromium, startDemo } from '../test/console-browser.ts';

const out = process.argv[2] ?? new URL('../../../docs/console/', import.meta.url).pathname;
mkdirSync(out, { recursive: true });
const executablePath = findChromium();
if (!executablePath) throw new Error('no chromium: run scripts/install-browser.sh');

type Seen = { messages: Record<string, number>; migrationEndT?: number; report?: unknown };
const seen = 'globalThis.ferryConsole';

// A 400 Mbit/s cap stretches the move to a few seconds, so that the first shot catches it running.
const demo = await startDemo(['--warmup-ms', '1000', '--after-ms', '1500', '--max-mbps', '400']);
const browser = await chromium.launch({ executablePath, args: ['--no-sandbox'] });
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(demo.url);
  await page.waitForSelector('#target option[value="other"]', { state: 'attached' });
  await page.selectOption('#target', 'other');
  await page.click('#btn-check');
  await page.waitForSelector('#check-result[data-accepted="false"]');
  await page.screenshot({ path: join(out, 'refused.png') });
  await page.selectOption('#target', 'destination');
  await page.click('#btn-plan');
  await page.waitForSelector('#plan-result tr.recommended', { timeout: 60_000 });
  await page.click('#btn-migrate');
  await page.waitForFunction(
    `(${seen}.messages.status ?? 0) >= 5 && ${seen}.migrationEndT === undefined` as unknown as () => boolean,
    undefined,
    { timeout: 60_000 },
  );
  await page.screenshot({ path: join(out, 'migrating.png'), fullPage: true });
  await page.waitForFunction(`${seen}.report !== undefined` as unknown as () => boolean, undefined, { timeout: 120_000 });
  await page.waitForTimeout(500);
  await page.screenshot({ path: join(out, 'report.png'), fullPage: true });
  const report = (await page.evaluate(seen)) as Seen;
  console.log(JSON.stringify(report.report, null, 1).slice(0, 400));
} finally {
  await browser.close();
  console.log(`demo exited with ${await demo.stop()}`);
}
