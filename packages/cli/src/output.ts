/** Where a command writes: results on stdout (JSON lines with --json), people's notes on stderr. */
export interface Output {
  readonly json: boolean;
  /** A result: a JSON line with --json, else the human lines. */
  result(value: Record<string, unknown>, human: () => readonly string[]): void;
  /** A note for people (stderr); silent with --json. */
  note(line: string): void;
}

export interface Streams {
  readonly stdout: NodeJS.WritableStream;
  readonly stderr: NodeJS.WritableStream;
}

export function output(json: boolean, io: Streams): Output {
  return {
    json,
    result(value, human) {
      if (json) io.stdout.write(`${JSON.stringify(value, jsonValue)}\n`);
      else for (const line of human()) io.stdout.write(`${line}\n`);
    },
    note(line) {
      if (!json) io.stderr.write(`${line}\n`);
    },
  };
}

/** JSON has no Infinity or bigint: null and a string instead. */
function jsonValue(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (typeof value === 'number' && !Number.isFinite(value)) return null;
  return value;
}

/** A command's body: resolves with the exit code. */
export type Action<V, A extends unknown[] = []> = (out: Output, values: V, ...args: A) => Promise<number>;

/** Wraps a body as a commander action (options after the positional arguments). */
// biome-ignore lint/suspicious/noExplicitAny: commander calls actions with its own argument list.
export type Runner = <V, A extends unknown[] = []>(action: Action<V, A>) => (...params: any[]) => Promise<void>;
