/** Helpers for users' tests: real guests in worker threads, self-checking page contents. */
export { checkPattern, writePattern } from './page-pattern.ts';
export { makeTestPki, type TestPki } from './pki.ts';
export { startWorker } from './ts-worker.ts';
export { findTornPages, WriterGuest, type WriterGuestOptions } from './writer-guest.ts';
