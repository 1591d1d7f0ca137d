import { randomBytes } from 'node:crypto';

/**
 * Page corpora for codec benchmarks: what guest memory tends to hold. Deterministic except
 * `random`, which is meant to be incompressible.
 */
export type CorpusName = 'zero' | 'text' | 'random' | 'redirtied';

/** A JSON-heap-like page: small records with repeating keys, as a language runtime's heap. */
export function textPage(page: Uint8Array, seed: number): void {
  let at = 0;
  let i = 0;
  while (at < page.byteLength) {
    const n = seed * 131 + i++;
    const rec = Buffer.from(
      `{"id":${n},"user":"u${n % 97}","tags":["a${n % 7}","b${n % 5}"],"score":${(n * 37) % 1000},"active":${n % 3 === 0}},`,
    );
    page.set(rec.subarray(0, Math.min(rec.byteLength, page.byteLength - at)), at);
    at += rec.byteLength;
  }
}

/** `pages` pages of the corpus, and for `redirtied` also the previous version of each page. */
export function corpus(name: CorpusName, pages: number, pageSize: number, changedBytes = 64): { current: Buffer; previous: Buffer } {
  const current = Buffer.alloc(pages * pageSize);
  const previous = Buffer.alloc(pages * pageSize);
  for (let p = 0; p < pages; p++) {
    const page = current.subarray(p * pageSize, (p + 1) * pageSize);
    if (name === 'text' || name === 'redirtied') textPage(page, p);
    if (name === 'random') page.set(randomBytes(pageSize));
  }
  current.copy(previous);
  if (name === 'redirtied') {
    // A few fields rewritten: 8 runs of changedBytes/8 bytes each.
    const run = Math.max(1, Math.floor(changedBytes / 8));
    for (let p = 0; p < pages; p++) {
      for (let r = 0; r < 8; r++) {
        const at = p * pageSize + ((r * 509 + p * 61) % (pageSize - run));
        for (let b = 0; b < run; b++) current[at + b] = (current[at + b]! + 1 + b) & 0xff;
      }
    }
  }
  return { current, previous };
}
