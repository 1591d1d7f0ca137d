import { createRequire } from 'node:module';
import { ErrorCode, FerryError, IntegrityError } from '../errors.ts';
import type { Kernels } from './kernels.ts';
import { checkHashInput, checkPageArgs } from './page-args.ts';
import { checkXbzrleDecodeArgs, checkXbzrleEncodeArgs } from './xbzrle.ts';

/**
 * The exports of `@ferry/native` that Ferry uses (its generated `index.d.ts` has them all): the
 * kernels' own signatures, all present, and `xxh64` with its optional seed.
 */
interface NativeBinding
  extends Pick<
    Required<Kernels>,
    | 'hashPages'
    | 'scanPages'
    | 'fingerprintPages'
    | 'fingerprintPagesAsync'
    | 'xbzrleEncode'
    | 'xbzrleDecode'
    | 'hashPagesAsync'
    | 'scanPagesAsync'
  > {
  xxh64(data: Uint8Array, seed?: bigint): bigint;
}

const BINDING_FUNCTIONS = [
  'hashPages',
  'scanPages',
  'xxh64',
  'xbzrleEncode',
  'xbzrleDecode',
  'hashPagesAsync',
  'scanPagesAsync',
  'fingerprintPages',
  'fingerprintPagesAsync',
] as const satisfies readonly (keyof NativeBinding)[];

/** The environment variable that, set to `1`, keeps Ferry from loading the addon. */
export const NO_NATIVE_ENV = 'FERRY_NO_NATIVE';

let required: { binding: unknown } | { error: FerryError } | undefined;

/**
 * `require('@ferry/native')`, once per process, or why it failed (`FERRY_NO_NATIVE=1`, or not
 * built for this platform). Never throws.
 */
export function requireNative(): { binding: unknown } | { error: FerryError } {
  if (process.env[NO_NATIVE_ENV] === '1') {
    return { error: unavailable(`the native addon is disabled by ${NO_NATIVE_ENV}=1`) };
  }
  required ??= (() => {
    try {
      return { binding: createRequire(import.meta.url)('@ferry/native') as unknown };
    } catch (err) {
      const detail = err instanceof Error ? err.message.split('\n', 1)[0] : String(err);
      return { error: unavailable(`@ferry/native did not load: ${detail}. ${installHint()}`, err) };
    }
  })();
  return required;
}

/**
 * Loads `@ferry/native` and wraps it as `Kernels`, or says why it could not: disabled by
 * `FERRY_NO_NATIVE=1`, not built for this platform, or missing a function (a stale build).
 * The failure is a `FerryError` with code `FERRY_NATIVE_UNAVAILABLE` whose `cause` is what
 * loading threw. Never throws.
 */
export function loadNativeKernels(): { kernels: Kernels } | { error: FerryError } {
  const loaded = requireNativeExports<NativeBinding>(BINDING_FUNCTIONS);
  return 'error' in loaded ? loaded : { kernels: wrapBinding(loaded.binding) };
}

/**
 * `requireNative()`, checked to export every one of `names` (functions or classes), or why
 * not: a build for this platform without them, or a stale build. Never throws.
 */
export function requireNativeExports<T>(names: readonly string[]): { binding: T } | { error: FerryError } {
  const loaded = requireNative();
  if ('error' in loaded) return loaded;
  const binding = loaded.binding as Record<string, unknown>;
  const missing = names.filter((name) => typeof binding[name] !== 'function');
  if (missing.length > 0) return { error: unavailable(`@ferry/native lacks ${missing.join(', ')}: rebuild it`) };
  return { binding: binding as T };
}

/** The addon as `Kernels`: arguments are checked here, so errors match the JS kernels'. */
function wrapBinding(native: NativeBinding): Kernels {
  return {
    name: 'native',
    hashPages(data, pageSize, out) {
      checkPageArgs(data, pageSize, out);
      native.hashPages(data, pageSize, out);
    },
    scanPages(data, pageSize, hashesOut, zeroBitsOut) {
      checkPageArgs(data, pageSize, hashesOut, zeroBitsOut);
      return native.scanPages(data, pageSize, hashesOut, zeroBitsOut);
    },
    fingerprintPages(data, pageSize, fingerprintsOut, zeroBitsOut) {
      checkPageArgs(data, pageSize, fingerprintsOut, zeroBitsOut);
      return native.fingerprintPages(data, pageSize, fingerprintsOut, zeroBitsOut);
    },
    async fingerprintPagesAsync(data, pageSize, fingerprintsOut, zeroBitsOut, signal) {
      checkPageArgs(data, pageSize, fingerprintsOut, zeroBitsOut);
      return runAbortable(signal, (inner) => native.fingerprintPagesAsync(data, pageSize, fingerprintsOut, zeroBitsOut, inner));
    },
    xxh64(data) {
      checkHashInput(data);
      return native.xxh64(data);
    },
    xbzrleEncode(old, cur, out) {
      checkXbzrleEncodeArgs(old, cur, out);
      return native.xbzrleEncode(old, cur, out);
    },
    xbzrleDecode(delta, page) {
      checkXbzrleDecodeArgs(delta, page);
      try {
        native.xbzrleDecode(delta, page);
      } catch (err) {
        // The arguments are checked, so what the addon rejects is the delta itself.
        const message = err instanceof Error ? err.message : String(err);
        throw new IntegrityError(ErrorCode.DECODE_FAILED, message, { cause: err });
      }
    },
    async scanPagesAsync(data, pageSize, hashesOut, zeroBitsOut, signal) {
      checkPageArgs(data, pageSize, hashesOut, zeroBitsOut);
      return runAbortable(signal, (inner) => native.scanPagesAsync(data, pageSize, hashesOut, zeroBitsOut, inner));
    },
    async hashPagesAsync(data, pageSize, out, signal) {
      checkPageArgs(data, pageSize, out);
      return runAbortable(signal, (inner) => native.hashPagesAsync(data, pageSize, out, inner));
    },
  };
}

/**
 * Runs an async addon call under `signal`, rejecting with `signal.reason` (as web APIs do)
 * when it is aborted. The addon gets a fresh signal per call: napi-rs 3 overwrites the
 * `onabort` of a signal it is given, keeps it for the signal's lifetime, and stops passing
 * aborts on once the first task given that signal has settled, so a migration-wide signal
 * handed to it directly would not stop later scans.
 */
async function runAbortable<T>(signal: AbortSignal | undefined, start: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
  if (signal === undefined) return start(undefined);
  signal.throwIfAborted();
  const inner = new AbortController();
  const forward = (): void => inner.abort(signal.reason);
  signal.addEventListener('abort', forward, { once: true });
  try {
    return await start(inner.signal);
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    throw err;
  } finally {
    signal.removeEventListener('abort', forward);
  }
}

/**
 * What to do about a missing addon: the platform package npm installs with @ferry/native (its
 * optional dependency for this platform), or, on a platform without one, a build from source.
 */
function installHint(): string {
  const platform = `${process.platform}-${process.arch}`;
  const abi =
    process.platform === 'linux' ? (process.report?.getReport?.() as { header?: { glibcVersionRuntime?: string } } | undefined) : undefined;
  const libc =
    process.platform === 'linux' ? (abi?.header?.glibcVersionRuntime ? '-gnu' : '-musl') : process.platform === 'win32' ? '-msvc' : '';
  const pkg = `@ferry/native-${platform}${libc}`;
  const built = ['linux-x64-gnu', 'linux-arm64-gnu', 'darwin-x64', 'darwin-arm64', 'win32-x64-msvc'];
  return built.includes(`${platform}${libc}`)
    ? `Its binary for this platform comes in ${pkg}, an optional dependency of @ferry/native: install it (\`npm install ${pkg}\`; ` +
        'a lockfile made on another platform, or --no-optional, leaves it out). In a Ferry checkout, `pnpm --filter @ferry/native build` builds it.'
    : `No prebuilt binary exists for ${platform}${libc}: build @ferry/native from source (Rust, \`napi build --platform --release\`).`;
}

function unavailable(message: string, cause?: unknown): FerryError {
  return cause === undefined
    ? new FerryError(ErrorCode.NATIVE_UNAVAILABLE, message)
    : new FerryError(ErrorCode.NATIVE_UNAVAILABLE, message, { cause });
}
