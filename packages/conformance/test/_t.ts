import { runSourceRole } from '../src/source/run.ts';
import { runDestinationRole } from '../src/destination/run.ts';
import { ferryDestination } from './ferry-destination.ts';
import { ferrySource } from './ferry-source.ts';
const layout = { pageSize: 4096, regions: [{ name: 'ram0', sizeBytes: 4 * 1024 * 1024 }] };
const psk = process.argv[2] === 'psk' ? Buffer.alloc(32, 7) : undefined;
const log = (r: { status: string; id: string; durationMs: number; reason: string }) =>
  r.status !== 'pass' && console.log(r.status.padEnd(5), r.id.padEnd(26), r.durationMs, r.reason);
const a = await runSourceRole({ target: ferryDestination(layout, psk), layout, replyTimeoutMs: 4000, ...(psk && { psk }), onResult: log });
console.log('peer', a.peerMaxVersion);
await runDestinationRole({ port: 0, launcher: ferrySource(psk), ...(psk && { psk }), onResult: log });
process.exit(0);
