import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The folders of packages/engine/src are layers (docs/architecture.md): a file may import from
 * its own folder or from a lower layer, never upwards or sideways. `testing/` is for users'
 * tests and no source imports it.
 */
const RANK: Record<string, number> = {
  util: 0,
  'errors.ts': -1,
  accel: 1,
  protocol: 2,
  memory: 3,
  dirty: 4,
  estimate: 4,
  codec: 5,
  transport: 6,
  session: 7,
  precopy: 8,
  postcopy: 8,
  orchestrate: 9,
  'index.ts': 10,
  'guest.ts': 10,
  testing: 11,
};

const src = fileURLToPath(new URL('../../src/', import.meta.url));

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

function layerOf(path: string): string {
  return relative(src, path).split('/')[0]!;
}

describe('engine layering', () => {
  it('every source folder has a rank', () => {
    for (const f of files(src)) expect(RANK, `unranked: ${relative(src, f)}`).toHaveProperty([layerOf(f)]);
  });

  it('no import goes upwards or sideways', () => {
    const violations: string[] = [];
    for (const file of files(src)) {
      const from = layerOf(file);
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/^(?:import|export)[^'"]*from\s+['"](\.[^'"]+)['"]/gm)) {
        const target = layerOf(join(file, '..', m[1]!));
        if (target === from) continue;
        if (target === 'testing' || RANK[target]! >= RANK[from]!) violations.push(`${relative(src, file)} -> ${m[1]}`);
      }
    }
    expect(violations).toEqual([]);
  });
});
