import { randomBytes } from 'node:crypto';
import { downtimeParts } from '@ferry/console';
import type { MigrationPlan, MigrationReport, ProbeResult } from '@ferry/engine';
import { type DemoFlags, waitsForMigrate } from '../flags.ts';
import { MiB, PAGE_SIZE } from '../guest/layout.ts';
import { type FromDestination, type FromSource, type GuestConfig, InjectedFailure, type ToDestination, type ToSource } from '../ipc.ts';
import { KEY_SPACE, PingClient } from './client.ts';
import { DemoConsole, type DemoHost, demoHosts, OTHER_PAGE_SIZE } from './demo-console.ts';
import { fmtMs } from './format.ts';
import { HostProcess } from './host-process.ts';
import { ProgressPrinter } from './progress.ts';
import { buildReport, type DemoReport, formatReport } from './report.ts';
import { GuestProxy } from './proxy.ts';
import { GuestSession } from './session.ts';

/** Bounds on every wait, so that the demo cannot hang. */
const HOST_START_TIMEOUT_MS = 60_000;
const MIGRATION_TIMEOUT_MS = 120_000;
const DESTINATION_RESULT_TIMEOUT_MS = 10_000;
const HOLD_DRAIN_TIMEOUT_MS = 3000;
const CLIENT_DRAIN_TIMEOUT_MS = 10_000;
const HOST_STOP_TIMEOUT_MS = 3000;
/** Client status lines while nothing else prints. */
const STATUS_EVERY_MS = 1000;
const PROBE_TIMEOUT_MS = 15_000;
const PLAN_TIMEOUT_MS = 60_000;

type Destination = HostProcess<ToDestination, FromDestination>;

/**
 * The launcher's run: it plays the control plane (starts hosts, tells the source to migrate,
 * moves the guest's network identity), the network (the proxy) and the client.
 */
export class Demo {
  private readonly flags: DemoFlags;
  private readonly print: (line: string) => void;
  private console: DemoConsole | undefined;
  /** What the launcher printed before the console was up: its log starts with them. */
  private readonly earlyLines: string[] = [];
  private session: GuestSession | undefined;
  private other: Destination | undefined;
  /** Probes and plans from the console go to the source one at a time. */
  private sourceQueue: Promise<unknown> = Promise.resolve();
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
    this.print = (line) => {
      print(line);
      if (this.console) this.console.log(line);
      else this.earlyLines.push(line);
    };
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
    // With the console, a third host that must refuse the guest: the compatibility check's "no".
    const other = flags.headless
      ? undefined
      : new HostProcess<ToDestination, FromDestination>('other', new URL('../hosts/destination.ts', import.meta.url), (e) =>
          this.breakRun(e),
        );
    this.other = other;
    other?.channel.on('fatal', (m) => this.breakRun(new Error(`host-16k: ${m.message}`)));
    other?.send({ type: 'start', guest, inject: InjectedFailure.NONE, pskHex: this.pskHex, pageSizes: [OTHER_PAGE_SIZE] });

    const [booted, listening, otherListening] = await this.step(
      Promise.all([
        source.channel.next('guest-ready', HOST_START_TIMEOUT_MS, 'the source guest to boot'),
        destination.channel.next('listening', HOST_START_TIMEOUT_MS, 'the destination to listen'),
        other?.channel.next('listening', HOST_START_TIMEOUT_MS, 'the 16 KiB-page host to listen'),
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

    let target: { name: string; port: number; process: Destination } = { name: 'destination', port: listening.port, process: destination };
    let chosen: Promise<typeof target> | undefined;
    if (!flags.headless) {
      let choose: (t: typeof target) => void = () => {};
      chosen = new Promise((resolve) => {
        choose = resolve;
      });
      const hosts = demoHosts({
        source: { port: booted.port, alive: () => source.alive },
        destination: { port: listening.port, alive: () => destination.alive },
        ...(other && otherListening && { other: { port: otherListening.port, alive: () => other.alive } }),
      });
      const processOf = (h: DemoHost): Destination => (h.id === 'other' && other ? other : destination);
      const console = await DemoConsole.start({
        port: flags.consolePort,
        hosts,
        guest: { memoryBytes: flags.memoryMiB * MiB, pageSize: PAGE_SIZE },
        maxDowntimeMs: flags.maxDowntimeMs,
        actions: {
          check: (h) => this.askSource<ProbeResult>({ type: 'probe', port: h.port, pskHex: this.pskHex }, 'probed', PROBE_TIMEOUT_MS),
          plan: (h) =>
            this.askSource<MigrationPlan>(
              { type: 'plan', port: h.port, pskHex: this.pskHex, maxDowntimeMs: flags.maxDowntimeMs, verify: flags.verify },
              'planned',
              PLAN_TIMEOUT_MS,
            ),
          migrate: (h) => choose({ name: h.name, port: h.port, process: processOf(h) }),
          cancel: () => source.send({ type: 'cancel' }),
          killDestination: () => target.process.kill(),
        },
      });
      this.console = console;
      for (const line of this.earlyLines.splice(0)) console.log(line);
      console.followClient(client);
      this.session = await GuestSession.connect(proxy.port, (line) => console.session(line));
      this.print(`  console           ${console.url}  (open it in a browser: choose the target, check, plan, migrate)`);
    }
    this.wireSwitchover(proxy, source, destination);

    this.print(`warming up for ${fmtMs(flags.warmupMs)}`);
    await this.step(this.runFor(flags.warmupMs));
    if (chosen) {
      const enter = (): void => {
        this.print('Enter pressed: migrating to the destination');
        this.console?.migrateFromTerminal('destination');
      };
      if (waitsForMigrate(flags)) {
        if (process.stdin.isTTY) process.stdin.once('data', enter);
        this.print(
          `waiting for Migrate in the console at ${this.console?.url}${process.stdin.isTTY ? ', or press Enter here to migrate to the destination' : ''}`,
        );
      } else {
        // Nobody at a terminal (a script, CI): migrate at once; the console still shows it live.
        this.print(`stdin is not a terminal: migrating to the destination now; watch it at ${this.console?.url}`);
        this.console?.migrateFromTerminal('destination');
      }
      target = await this.step(chosen);
      process.stdin.off('data', enter);
      process.stdin.pause();
    }

    this.print(`migrating to ${target.name} (switch over once the predicted downtime is at most ${fmtMs(flags.maxDowntimeMs)})`);
    const progress = new ProgressPrinter(this.print);
    source.channel.on('event', (m) => {
      progress.onEvent(m.event);
      this.console?.migrationEvent(m.event);
    });
    source.channel.on('status', (m) => this.console?.status(m.status));
    source.send({
      type: 'migrate',
      port: target.port,
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
        target.process.channel.next(['incoming', 'incoming-failed'], DESTINATION_RESULT_TIMEOUT_MS, "the destination's result"),
      );
      if (result.type === 'incoming') incoming = result;
      else failure = { code: result.code, message: `destination: ${result.message}` };
    } else {
      failure = { code: outcome.code, message: outcome.message };
      this.console?.migrationFailed(outcome.code, outcome.message);
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

    const report = buildReport({
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
    this.console?.report({
      ok: report.ok,
      outcome: report.ok ? 'completed' : report.outcome === 'completed' ? 'checks failed' : 'rolled back',
      ...(migration && {
        downtimeMs: migration.downtimeMs,
        downtimeParts: downtimeParts(migration.downtime),
      }),
      wrong: stats.wrongAnswers,
      lost: stats.lostWrites,
      longestGapMs: stats.longestGapMs,
      ...(report.problems.length > 0 && { reason: report.problems.join('; ') }),
      text: formatReport(report),
    });
    return report;
  }

  /** The console's URL while it is served. */
  get consoleUrl(): string | undefined {
    return this.console?.url;
  }

  /** Sends `message` to the source and waits for its `answer` (or `probe-failed`), one question at a time. */
  private askSource<T>(message: ToSource, answer: 'probed' | 'planned', timeoutMs: number): Promise<T> {
    const source = this.source;
    if (!source) return Promise.reject(new Error('the source host is not running'));
    const ask = async (): Promise<T> => {
      source.send(message);
      const reply = await source.channel.next([answer, 'probe-failed'], timeoutMs, `the source's ${answer} answer`);
      if (reply.type === 'probe-failed') throw Object.assign(new Error(reply.message), { code: reply.code });
      return (reply.type === 'probed' ? reply.result : reply.type === 'planned' ? reply.plan : undefined) as T;
    };
    const run = this.sourceQueue.then(ask, ask);
    this.sourceQueue = run.catch(() => {});
    return run;
  }

  /** Stops hosts (politely, then by force), the client and the proxy. Safe to call twice. */
  async shutdown(): Promise<void> {
    this.client?.close();
    this.session?.close();
    await Promise.all([
      this.source?.stop({ type: 'shutdown' }, HOST_STOP_TIMEOUT_MS),
      this.destination?.stop({ type: 'shutdown' }, HOST_STOP_TIMEOUT_MS),
      this.other?.stop({ type: 'shutdown' }, HOST_STOP_TIMEOUT_MS),
    ]);
    await this.proxy?.close();
    await this.console?.close();
    this.console = undefined;
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
