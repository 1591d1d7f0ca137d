import { randomBytes } from 'node:crypto';
import type { MigrationReport } from '@ferry/engine';
import type { DemoFlags } from '../flags.ts';
import type { FromDestination, FromSource, GuestConfig, ToDestination, ToSource } from '../ipc.ts';
import { KEY_SPACE, PingClient } from './client.ts';
import { fmtMs } from './format.ts';
import { HostProcess } from './host-process.ts';
import { ProgressPrinter } from './progress.ts';
import { buildReport, type DemoReport } from './report.ts';
import { GuestProxy } from './proxy.ts';

/** Bounds on every wait, so that the demo cannot hang. */
const HOST_START_TIMEOUT_MS = 60_000;
const MIGRATION_TIMEOUT_MS = 120_000;
const DESTINATION_RESULT_TIMEOUT_MS = 10_000;
const HOLD_DRAIN_TIMEOUT_MS = 3000;
const CLIENT_DRAIN_TIMEOUT_MS = 10_000;
const HOST_STOP_TIMEOUT_MS = 3000;
/** Client status lines while nothing else prints. */
const STATUS_EVERY_MS = 1000;

/**
 * The launcher's run: it plays the control plane (starts hosts, tells the source to migrate,
 * moves the guest's network identity), the network (the proxy) and the client.
 */
export class Demo {
  private readonly flags: DemoFlags;
  private readonly print: (line: string) => void;
  private proxy: GuestProxy | undefined;
  private source: HostProcess<ToSource, FromSource> | undefined;
  private destination: HostProcess<ToDestination, FromDestination> | undefined;
  /** A fresh key per run, as a control plane would hand to both hosts: they authenticate each other with it. */
  private readonly pskHex: string = randomBytes(32).toString('hex');
  private client: PingClient | undefined;
  /** Rejects when a host crashes or reports a fatal error; every wait races it. */
  private readonly broken: Promise<never>;
  private breakRun: (error: Error) => void = () => {};

  constructor(flags: DemoFlags, print: (line: string) => void) {
    this.flags = flags;
    this.print = print;
    this.broken = new Promise<never>((_, reject) => {
      this.breakRun = reject;
    });
    this.broken.catch(() => {});
  }

  async run(): Promise<DemoReport> {
    const flags = this.flags;
    const started = performance.now();
    const guest: GuestConfig = { memoryMiB: flags.memoryMiB, churnPagesPerSec: flags.churnPagesPerSec };
    this.print(
      `Ferry kv-demo: a key-value guest with ${flags.memoryMiB} MiB of memory live-migrates from one host process to another ` +
        'while a client sends it a request every millisecond.',
    );

    const proxy = await GuestProxy.listen();
    this.proxy = proxy;
    const source = new HostProcess<ToSource, FromSource>('source', new URL('../hosts/source.ts', import.meta.url), (e) => this.breakRun(e));
    this.source = source;
    const destination = new HostProcess<ToDestination, FromDestination>(
      'destination',
      new URL('../hosts/destination.ts', import.meta.url),
      (e) => this.breakRun(e),
    );
    this.destination = destination;
    source.channel.on('fatal', (m) => this.breakRun(new Error(`source host: ${m.message}`)));
    destination.channel.on('fatal', (m) => this.breakRun(new Error(`destination host: ${m.message}`)));
    source.send({ type: 'start', guest });
    destination.send({ type: 'start', guest, inject: flags.inject, pskHex: this.pskHex });

    const [booted, listening] = await this.step(
      Promise.all([
        source.channel.next('guest-ready', HOST_START_TIMEOUT_MS, 'the source guest to boot'),
        destination.channel.next('listening', HOST_START_TIMEOUT_MS, 'the destination to listen'),
      ]),
    );
    await proxy.point({ host: '127.0.0.1', port: booted.port, name: 'source' });
    this.print(`  guest's address   127.0.0.1:${proxy.port} (the proxy: the guest's network identity)`);
    this.print(`  source host       pid ${source.pid}, guest booted in ${fmtMs(booted.bootMs)}, serving on 127.0.0.1:${booted.port}`);
    this.print(`  destination host  pid ${destination.pid}, waiting for the migration on 127.0.0.1:${listening.port}`);
    this.print(`  guest churn       ${flags.churnPagesPerSec} pages/s; client: 1 request/ms, SET/GET over ${KEY_SPACE} keys`);
    this.print('  authentication    a fresh 256-bit pre-shared key on both hosts; each proves it to the other');

    const client = await PingClient.connect(proxy.port);
    this.client = client;
    const infoBefore = await this.step(client.info(5000));
    client.start();
    this.wireSwitchover(proxy, source, destination);

    this.print(`warming up for ${fmtMs(flags.warmupMs)}`);
    await this.step(this.runFor(flags.warmupMs));

    this.print(`migrating to the destination (switch over once the predicted downtime is at most ${fmtMs(flags.maxDowntimeMs)})`);
    const progress = new ProgressPrinter(this.print);
    source.channel.on('event', (m) => progress.onEvent(m.event));
    source.send({
      type: 'migrate',
      port: listening.port,
      maxDowntimeMs: flags.maxDowntimeMs,
      onWontConverge: flags.onWontConverge,
      verify: flags.verify,
      compression: flags.compression,
      pskHex: this.pskHex,
      maxBandwidth: flags.maxBandwidth,
      channels: flags.channels,
      timeoutMs: MIGRATION_TIMEOUT_MS,
    });
    const outcome = await this.step(
      source.channel.next(['migrated', 'migrate-failed'], MIGRATION_TIMEOUT_MS + 5000, 'the migration to finish'),
    );

    let migration: MigrationReport | undefined;
    let failure: { code: string; message: string } | undefined;
    let incoming: Extract<FromDestination, { type: 'incoming' }> | undefined;
    if (outcome.type === 'migrated') {
      migration = outcome.report;
      const result = await this.step(
        destination.channel.next(['incoming', 'incoming-failed'], DESTINATION_RESULT_TIMEOUT_MS, "the destination's result"),
      );
      if (result.type === 'incoming') incoming = result;
      else failure = { code: result.code, message: `destination: ${result.message}` };
    } else {
      failure = { code: outcome.code, message: outcome.message };
      // The source resumed its guest; make sure its traffic flows there (release is idempotent).
      proxy.release();
    }

    const where = failure ? 'the source (rolled back)' : 'the destination';
    this.print(`the client goes on against ${where} for ${fmtMs(flags.afterMs)}`);
    await this.step(this.runFor(flags.afterMs));
    await this.step(client.stop(CLIENT_DRAIN_TIMEOUT_MS));
    const running = client.snapshot();
    this.print(`final check: reading back all ${running.keysWritten} keys the client wrote`);
    await this.step(client.finalCheck(CLIENT_DRAIN_TIMEOUT_MS));
    const infoAfter = await this.step(client.info(5000)).catch((err: unknown) => `no INFO reply: ${(err as Error).message}`);
    const stats = client.snapshot();
    client.close();

    return buildReport({
      flags,
      wallMs: performance.now() - started,
      migration,
      failure,
      incoming,
      holds: proxy.holds,
      client: stats,
      infoBefore,
      infoAfter,
    });
  }

  /** Stops hosts (politely, then by force), the client and the proxy. Safe to call twice. */
  async shutdown(): Promise<void> {
    this.client?.close();
    await Promise.all([
      this.source?.stop({ type: 'shutdown' }, HOST_STOP_TIMEOUT_MS),
      this.destination?.stop({ type: 'shutdown' }, HOST_STOP_TIMEOUT_MS),
    ]);
    await this.proxy?.close();
  }

  /**
   * The switchover, as the control plane sees it: the source's pause() hook asks for a hold;
   * the destination's resume() hook reports the new guest's port; a failed migration hands the
   * traffic back to the source.
   */
  private wireSwitchover(
    proxy: GuestProxy,
    source: HostProcess<ToSource, FromSource>,
    destination: HostProcess<ToDestination, FromDestination>,
  ): void {
    source.channel.on('hold', () => {
      const inFlight = proxy.inFlight;
      proxy.hold(HOLD_DRAIN_TIMEOUT_MS).then(
        () => {
          this.print(`  proxy: holding the guest's traffic (${inFlight} in flight, now answered); the source pauses the guest`);
          source.send({ type: 'held', ok: true, reason: '' });
        },
        (err: unknown) => source.send({ type: 'held', ok: false, reason: (err as Error).message }),
      );
    });
    source.channel.on('release', () => {
      const hold = proxy.release();
      if (hold)
        this.print(`  proxy: migration failed; ${hold.requests} held requests go back to the source guest after ${fmtMs(hold.heldMs)}`);
    });
    destination.channel.on('guest-ready', (m) => {
      const backend = { host: '127.0.0.1', port: m.port, name: 'destination' };
      // Normally held already (since pause); hold anyway so no request is in flight while we switch.
      proxy
        .hold(HOLD_DRAIN_TIMEOUT_MS)
        .then(() => proxy.point(backend))
        .then(
          () => {
            const hold = proxy.release();
            this.print(
              `  proxy: now pointing at the destination guest (generation ${m.generation}, ${m.keys} keys, started in ${fmtMs(m.startMs)}); ` +
                `released ${hold?.requests ?? 0} held requests after ${fmtMs(hold?.heldMs ?? 0)}`,
            );
            destination.send({ type: 'repointed' });
          },
          (err: unknown) => this.breakRun(new Error(`could not repoint the proxy: ${(err as Error).message}`)),
        );
    });
  }

  /** Lets time pass with a client status line every second. */
  private async runFor(ms: number): Promise<void> {
    const client = this.client;
    const end = performance.now() + ms;
    while (performance.now() < end) {
      const sleepMs = Math.min(STATUS_EVERY_MS, end - performance.now());
      await new Promise((r) => setTimeout(r, sleepMs));
      if (client && sleepMs > STATUS_EVERY_MS / 2) {
        const s = client.snapshot();
        this.print(`  client  t=${(client.elapsedMs / 1000).toFixed(1)}s  sent ${s.sent}  answered ${s.answered}  wrong ${s.wrongAnswers}`);
      }
    }
  }

  /** Awaits `p` unless a host breaks first. */
  private step<T>(p: Promise<T>): Promise<T> {
    return Promise.race([p, this.broken]);
  }
}
