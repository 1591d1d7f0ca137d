import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The layout's rules that are about files rather than folders: no import cycle between files,
 * no source file over 400 lines, every phase file says its one responsibility first, and
 * docs/design.md names every file.
 */
const src = fileURLToPath(new URL('../../src/', import.meta.url));
const design = readFileSync(fileURLToPath(new URL('../../../../docs/design.md', import.meta.url)), 'utf8');

function files(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : [],
  );
}

/** Each file's imports of other source files (type-only imports included: they are edges of the design too). */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files(src)) {
    const text = readFileSync(file, 'utf8');
    const targets = [...text.matchAll(/^(?:import|export)[^'"]*from\s+['"](\.[^'"]+)['"]/gm)].map((m) => join(file, '..', m[1]!));
    graph.set(file, targets);
  }
  return graph;
}

describe('engine files', () => {
  it('import each other without a cycle', () => {
    const graph = importGraph();
    const state = new Map<string, 'open' | 'done'>();
    const cycles: string[] = [];
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file].map((f) => relative(src, f)).join(' -> '));
        return;
      }
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
  });

  it('are at most 400 lines each', () => {
    const long = files(src)
      .map((f) => [relative(src, f), readFileSync(f, 'utf8').split('\n').length] as const)
      .filter(([, lines]) => lines > 400);
    expect(long).toEqual([]);
  });

  it('in orchestrate/, precopy/ and postcopy/ begin with a comment that says what they own', () => {
    const silent = files(src)
      .filter((f) => /^(orchestrate|precopy|postcopy)\//.test(relative(src, f)))
      .filter((f) => !readFileSync(f, 'utf8').startsWith('/**'))
      .map((f) => relative(src, f));
    expect(silent).toEqual([]);
  });

  it('are each named in docs/design.md', () => {
    const missing = files(src)
      .map((f) => relative(src, f))
      .filter((f) => !f.startsWith('testing/'))
      .filter((f) => {
        const [folder, name] = f.includes('/') ? f.split('/') : ['', f];
        return (
          !design.includes(`\`${f}\``) &&
          !new RegExp(`\\| \`${folder}/[^|]*\\b${name!.replace('.', '\\.')}\``).test(design) &&
          !design.includes(`\`${name}\``)
        );
      });
    expect(missing).toEqual([]);
  });
});
