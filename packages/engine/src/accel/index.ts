import { ErrorCode, FerryError } from '../errors.ts';
import { createJsKernels } from './js-kernels.ts';
import type { Kernels } from './kernels.ts';
import { loadNativeKernels } from './native-loader.ts';

export type { Kernels } from './kernels.ts';
export { createJsKernels } from './js-kernels.ts';
export { loadNativeKernels, NO_NATIVE_ENV } from './native-loader.ts';
export {
  checkHashInput,
  checkPageArgs,
  MAX_KERNEL_PAGES,
  MAX_KERNEL_PAGE_SIZE,
} from './page-args.ts';
export {
  checkXbzrleDecodeArgs,
  checkXbzrleEncodeArgs,
  XBZRLE_MAX_RUN,
  xbzrleDecode,
  xbzrleEncode,
} from './xbzrle.ts';
import { logger } from '../util/log.ts';

const log = logger('accel');

/** What `loadKernels` may return: the addon if it loads, or only the addon, or only the twin. */
export interface LoadKernelsOptions {
  /**
   * `undefined` (default): the native kernels if the addon loads and is not disabled by
   * `FERRY_NO_NATIVE=1`, else the JS kernels. `true`: the native kernels, or a rejection with
   * `FERRY_NATIVE_UNAVAILABLE` (its `cause` says why). `false`: the JS kernels.
   */
  readonly native?: boolean;
}

let nativeResult: ReturnType<typeof loadNativeKernels> | undefined;
let jsKernels: Promise<Kernels> | undefined;

/**
 * The page kernels to use. The addon is loaded at most once per process and the JS kernels
 * are built at most once, so every call in a mode returns the same object.
 */
export async function loadKernels(options: LoadKernelsOptions = {}): Promise<Kernels> {
  if (options.native !== false) {
    const result = native();
    if ('kernels' in result) return result.kernels;
    if (options.native === true) throw result.error;
  }
  jsKernels ??= createJsKernels().catch((err: unknown) => {
    jsKernels = undefined;
    throw new FerryError(ErrorCode.NATIVE_UNAVAILABLE, 'xxhash-wasm did not load', { cause: err });
  });
  return jsKernels;
}

/** Whether the addon loaded (loading it now if nobody has tried yet), and if not, why. */
export function nativeStatus(): { loaded: boolean; reason?: string } {
  const result = native();
  return 'kernels' in result ? { loaded: true } : { loaded: false, reason: result.error.message };
}

function native(): ReturnType<typeof loadNativeKernels> {
  if (!nativeResult) {
    nativeResult = loadNativeKernels();
    log(
      'error' in nativeResult
        ? `native addon unavailable, JavaScript kernels instead: ${nativeResult.error.message}`
        : 'native addon loaded',
    );
  }
  return nativeResult;
}
