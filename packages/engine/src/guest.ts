/**
 * `@ferry/engine/guest`: the little a guest itself needs, for code running inside the guest's
 * worker or process. Importing it loads no transport, no orchestrator and no native addon.
 */
export { WriteBarrier } from './dirty/write-barrier.ts';
export { PostcopyPager } from './postcopy/pager.ts';
