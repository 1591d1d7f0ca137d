/**
 * A trial's source host in its own process, so the campaign can kill -9 it at any phase. Its
 * guest's memory is a file (as a VMM's RAM file outlives a crashed migration helper), and every
 * hook is logged to a file before it returns, so the campaign knows afterwards whether the
 * guest was paused, resumed or released when the process died. Waits for `{ go: port }`.
 */
import { openSync, writeSync } from 'node:fs';
import { GuestMemory, migrate, WriteBarrierTracker } from '@ferry/engine';
import { fillGuest } from './guest-fill.ts';
import { hostFiles, readHostConfig } from './host-config.ts';
import { recordingSource } from './planes.ts';
import { Rng } from './rng.ts';
import { settle } from './settle.ts';
import { TickGuest } from './tick-guest.ts';
import { migrateOptions } from './trial-options.ts';

const cfg = readHostConfig();
const setup = cfg.setup;
const memory = GuestMemory.map({
  regions: setup.regionsMiB.map((mib, i) => ({
    name: `ram${i}`,
    file: hostFiles.sourceRegion(cfg.dir, i),
    sizeBytes: mib * 2 ** 20,
    create: true,
  })),
});
fillGuest(memory, new Rng(cfg.seed), setup.fillFraction);
const tracker = new WriteBarrierTracker(memory.layout);
const guest = new TickGuest(memory, tracker, setup.pagesPerSec, cfg.seed | 1);
guest.start();
const log = openSync(hostFiles.sourceLog(cfg.dir), 'a');
const plane = recordingSource(guest, Buffer.from(cfg.deviceStateHex, 'hex'), (hook) => writeSync(log, `${hook}\n`));

process.on('message', (m: { go?: number; exit?: boolean }) => {
  if (m.exit) process.exit(0);
  if (m.go === undefined) return;
  void settle(
    migrate(
      migrateOptions(setup, {
        port: m.go,
        memory,
        tracker,
        controlPlane: plane,
        psk: cfg.pskHex ? Buffer.from(cfg.pskHex, 'hex') : undefined,
      }),
    ),
  ).then((end) => {
    // The guest stops for good, so the campaign reads still memory.
    guest.pause();
    writeSync(log, `end ${JSON.stringify(end)}\n`);
    process.send?.({ type: 'result', end });
  });
});
process.send?.({ type: 'listening', port: 0 });
