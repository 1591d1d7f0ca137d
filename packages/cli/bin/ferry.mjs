#!/usr/bin/env node
// The `ferry` command: from TypeScript source through tsx in a Ferry checkout, from dist/ when installed.
import { existsSync } from 'node:fs';

let main;
if (existsSync(new URL('../src/main.ts', import.meta.url))) {
  const { register } = await import('tsx/esm/api');
  register();
  ({ main } = await import('../src/main.ts'));
} else {
  ({ main } = await import('../dist/main.js'));
}
process.exitCode = await main(process.argv.slice(2));
