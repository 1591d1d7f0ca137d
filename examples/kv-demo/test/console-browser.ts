import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Debian's chromium (examples/kv-demo/scripts/install-browser.sh installs it), or CHROMIUM_PATH. */
export function findChromium(): string | undefined {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  return candidates.find((p): p is string => p !== undefined && p !== '' && existsSync(p));
}

const exampleDir = fileURLToPath(new URL('..', import.meta.url));

/** The demo launcher in console mode, with its console's URL once it printed it. */
export interface RunningDemo {
  readonly child: ChildProcess;
  readonly url: string;
  output(): string;
  /** Ctrl-C: the launcher stops its hosts and exits with the report's code. */
  stop(): Promise<number | null>;
}

export async function startDemo(flags: readonly string[]): Promise<RunningDemo> {
  // --wait: stdin is not a terminal here, and the browser, not the warm-up's end, starts the migration.
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', '--wait', ...flags], {
    cwd: exampleDir,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo printed no console URL within 60 s:\n${output}`)), 60_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const m = /console\s+(http:\/\/\S+)/.exec(output);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    void exited.then((code) => reject(new Error(`the demo exited (${code}) before serving the console:\n${output}`)));
  });
  return {
    child,
    url,
    output: () => output,
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGINT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
