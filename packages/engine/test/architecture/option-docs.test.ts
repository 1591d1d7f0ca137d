import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The API contract for options: every option of every entry point has a doc comment; an
 * optional one says its default; a number says its unit (in its name, as `...Ms` or
 * `...Bytes`, or in its comment). The API reference (docs/api) is generated from these comments.
 */
const OPTION_FILES: Record<string, string> = {
  MigrateOptions: 'session/migrate-options.ts',
  ListenOptions: 'session/listen-options.ts',
  ProbeOptions: 'session/probe-options.ts',
  PlanOptions: 'session/plan-options.ts',
};

interface OptionDoc {
  readonly name: string;
  readonly optional: boolean;
  readonly type: string;
  readonly doc: string;
}

function options(interfaceName: string, file: string): OptionDoc[] {
  const path = fileURLToPath(new URL(`../../src/${file}`, import.meta.url));
  const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: OptionDoc[] = [];
  source.forEachChild((node) => {
    if (!ts.isInterfaceDeclaration(node) || node.name.text !== interfaceName) return;
    for (const member of node.members) {
      if (!ts.isPropertySignature(member)) continue;
      const docs = ts.getJSDocCommentsAndTags(member).map((d) => d.getText(source));
      found.push({
        name: member.name.getText(source),
        optional: member.questionToken !== undefined,
        type: member.type?.getText(source) ?? '',
        doc: docs.join('\n'),
      });
    }
  });
  if (found.length === 0) throw new Error(`no interface ${interfaceName} in ${file}`);
  return found;
}

describe('option docs', () => {
  for (const [name, file] of Object.entries(OPTION_FILES)) {
    it(`${name}: every option documented, with its default and unit`, () => {
      const problems: string[] = [];
      for (const o of options(name, file)) {
        if (!o.doc) problems.push(`${o.name}: no doc comment`);
        else if (o.optional && !/default/i.test(o.doc)) problems.push(`${o.name}: no default stated`);
        const numeric = /\bnumber\b/.test(o.type);
        if (
          numeric &&
          !/(Ms|Bytes|PerSec|Bandwidth)$/.test(o.name) &&
          !/bytes|milliseconds|\bms\b|\bs\b|per second|percent|count|rounds|pages|port|channels|connections/i.test(o.doc)
        ) {
          problems.push(`${o.name}: a number without its unit`);
        }
      }
      expect(problems).toEqual([]);
    });
  }
});
