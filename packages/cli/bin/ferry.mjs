#!/usr/bin/env node
// The `ferry` command. It runs from TypeScript source through tsx, as the rest of this checkout does.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
