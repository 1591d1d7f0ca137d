/**
 * A trial's destination host in its own process, so the campaign can kill -9 it at any phase.
 * It maps the incoming guest's memory onto files and logs every hook before it returns, so the
 * campaign can read what it held and whether it ran the guest after the process is gone.
 */
import { openSync, writeFileSync, writeSync } from 'node:fs';
import { GuestMemory, MigrationDestination } from '@ferry/engine';
import { hostFiles, readHostConfig } from './host-config.ts';
import { recordingDestination } from './planes.ts';
import { Rng } from './rng.ts';
import { settle } from './settle.ts';
import { listenOptions } from './trial-options.ts';

const cfg = readHostConfig();
const log = openSync(hostFiles.destinationLog(cfg.dir), 'a');
const note = (line: string): void => {
  writeSync(log, `${line}\n`);
};
const plane = recordingDestination({
  touches: cfg.setup.postcopyTouches,
  rng: new Rng(cfg.seed ^ 0x7a11),
  allocate: (layout) =>
    GuestMemory.map({
      pageSize: layout.pageSize,
      regions: layout.regions.map((r, i) => ({
        name: r.name,
        file: hostFiles.destinationRegion(cfg.dir, i),
        sizeBytes: r.sizeBytes,
        create: true,
      })),
    }),
  onCall: note,
  onDeviceState: (state) => writeFileSync(hostFiles.destinationDeviceState(cfg.dir), state),
});
let accepted = false;
const destination = await MigrationDestination.listen(
  listenOptions(cfg.setup, plane, cfg.pskHex ? Buffer.from(cfg.pskHex, 'hex') : undefined, (e) => {
    if (e.type === 'phase' && !accepted) {
      accepted = true;
      note('accepted');
    }
    if (e.type === 'interrupted' || e.type === 'recovered') note(`event ${e.type}`);
  }),
);
void settle(destination.result).then(async (end) => {
  if (end.end === 'completed') {
    const incoming = await destination.result;
    writeFileSync(
      hostFiles.destinationIdentity(cfg.dir),
      JSON.stringify({
        guestId: incoming.guestId,
        pageSize: incoming.memory.pageSize,
        regions: incoming.memory.regions.map((r) => ({ name: r.name, sizeBytes: r.sizeBytes })),
      }),
    );
  }
  note(`end ${JSON.stringify(end)}`);
  process.send?.({ type: 'result', end });
});
process.on('message', (m: { exit?: boolean }) => {
  if (m.exit) process.exit(0);
});
process.send?.({ type: 'listening', port: destination.port });
