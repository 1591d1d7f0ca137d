import { type Kernels, loadKernels } from '@ferry/engine';

let loaded: Promise<Kernels> | undefined;
/** The engine's hashing kernels (xxh64, XBZRLE), loaded once. */
export function kernels(): Promise<Kernels> {
  loaded ??= loadKernels();
  return loaded;
}
