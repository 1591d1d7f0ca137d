import { spawn } from 'node:child_process';
import { type Result, runOne, skipped, skipReason } from '../runner.ts';
import { type DestinationContext, type DestinationScenario, fail, type SourceExit } from '../scenario.ts';
import { Conn } from '../wire/conn.ts';
import { DESTINATION_SCENARIOS } from './scenarios.ts';
import { KitListener } from './server.ts';

/** A source under test started for one scenario: how it ends, and how to stop it. */
export interface LaunchedSource {
  readonly exit: Promise<SourceExit>;
  kill(): void;
}
/** Starts the implementation's source towards the kit's port. */
export type SourceLauncher = (port: number) => LaunchedSource;

/** `--source-command`: a shell command with `{port}` replaced, run once per scenario. */
export function shellLauncher(command: string): SourceLauncher {
  return (port) => {
    const child = spawn('sh', ['-c', command.replaceAll('{port}', String(port))], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let output = '';
    child.stdout.on('data', (d: Buffer) => {
      output += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      output += d.toString();
    });
    const exit = new Promise<SourceExit>((resolve) => {
      child.on('close', (code) => resolve({ code, output }));
      child.on('error', (err) => resolve({ code: null, output: `${output}\n${err.message}` }));
    });
    return {
      exit,
      kill() {
        // The whole process group: the shell and what it started.
        if (child.pid !== undefined) {
          try {
            process.kill(-child.pid, 'SIGKILL');
          } catch {
            // Already gone.
          }
        }
      },
    };
  };
}

export interface DestinationRunOptions {
  readonly port: number;
  readonly host?: string;
  readonly launcher?: SourceLauncher;
  readonly psk?: Buffer;
  readonly only?: readonly string[];
  readonly timeoutMs?: number;
  readonly replyTimeoutMs?: number;
  /** How long the kit waits for the source to connect (default 30 s; without a launcher someone starts it). */
  readonly connectTimeoutMs?: number;
  readonly onListening?: (port: number) => void;
  readonly onResult?: (r: Result) => void;
}

/** Runs the scenarios of role destination; each incoming migration gets the next one. */
export async function runDestinationRole(o: DestinationRunOptions): Promise<{ results: Result[]; port: number }> {
  const listener = await KitListener.listen(o.port, o.host);
  const port = listener.port;
  o.onListening?.(port);
  const results: Result[] = [];
  const list: readonly DestinationScenario[] = o.only ? DESTINATION_SCENARIOS.filter((s) => o.only!.includes(s.id)) : DESTINATION_SCENARIOS;
  try {
    for (const s of list) {
      const why = skipReason(s, { psk: o.psk !== undefined, peerMaxVersion: 4 });
      if (why) {
        const r = skipped(s, why);
        results.push(r);
        o.onResult?.(r);
        continue;
      }
      listener.drain();
      const source = o.launcher?.(port);
      const timeoutMs = o.timeoutMs ?? 30_000;
      const r = await runOne(s, timeoutMs, (signal) => {
        const ctx: DestinationContext = {
          psk: o.psk,
          replyTimeoutMs: o.replyTimeoutMs ?? 5000,
          signal,
          async accept() {
            const c = await listener.next(o.connectTimeoutMs ?? (source ? 15_000 : 30_000));
            if (!c) fail('expected the source to connect, nothing came');
            return c;
          },
          async sourceExit() {
            if (!source) return undefined;
            let timer: NodeJS.Timeout | undefined;
            const late = new Promise<SourceExit>((resolve) => {
              timer = setTimeout(() => resolve({ code: null, output: 'the source command did not exit within 20 s (killed)' }), 20_000);
            });
            const e = await Promise.race([source.exit, late]);
            clearTimeout(timer);
            return e;
          },
        };
        return s.run(ctx);
      });
      source?.kill();
      if (source) await source.exit;
      Conn.destroyAll();
      results.push(r);
      o.onResult?.(r);
    }
  } finally {
    await listener.close();
  }
  return { results, port };
}
