#!/usr/bin/env node
// The `ferry-conformance` command, run from its TypeScript source through tsx.
const { register } = await import('tsx/esm/api');
register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
