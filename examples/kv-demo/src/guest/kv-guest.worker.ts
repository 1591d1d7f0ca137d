import net from 'node:net';
import { parentPort } from 'node:worker_threads';
import { GuestMemory } from '@ferry/engine';
import { WriteBarrier } from '@ferry/engine/guest';
import { LineSplitter, MAX_KEY_BYTES, MAX_LINE_BYTES, MAX_VALUE_BYTES } from '../lines.ts';
import { bootGuest } from './boot.ts';
import { Churn } from './churn.ts';
import { Control, type GuestBoot, type GuestLoaded, type GuestPrepared, type GuestReady, type GuestStart } from './guest-protocol.ts';
import { readSuperblock } from './layout.ts';
import { KvStore } from './kv-store.ts';
import { loadRegisters, storeRegisters } from './registers.ts';

/**
 * The guest's vCPU: a key-value server over guest memory plus a background churn, in one
 * worker thread. Pausing is real: asked to pause, the thread stores its registers and blocks in
 * Atomics.wait, so neither requests nor churn run until it is resumed.
 */
if (!parentPort) throw new Error('the guest runs in a worker thread');
const host = parentPort;
// Loaded, not yet booted: wait for memory.
const data = await nextMessage<GuestBoot>({ type: 'loaded' } satisfies GuestLoaded);
const ctl = new Int32Array(data.control);
const registerFile = new Float64Array(data.registerFile);
const mem =
  data.memory instanceof SharedArrayBuffer
    ? new Uint8Array(data.memory)
    : GuestMemory.attach({ pageSize: data.pageSize, regions: [{ name: 'ram', mappingId: data.memory.mappingId }] }).region(0).bytes;
const view = new DataView(mem.buffer, mem.byteOffset, mem.byteLength);
const barrier = new WriteBarrier(data.dirty, data.pageSize);
// The server socket opens now, before the guest runs: starting it is then only a signal.
let store: KvStore | undefined;
const server = net.createServer((socket) => serve(socket));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as net.AddressInfo).port;
await nextMessage<GuestStart>({ type: 'prepared', port } satisfies GuestPrepared);

const started = performance.now();
const { layout, regs } = data.boot
  ? bootGuest(mem, barrier)
  : { layout: readSuperblock(view, mem.byteLength), regs: loadRegisters(registerFile) };
store = new KvStore(mem, layout, barrier, regs);
const churn = new Churn(mem, layout, barrier, regs);
// The registers count the keys; the full check of the store runs once the guest serves (below),
// so that it is not part of the blackout, and fails the guest loudly if memory is inconsistent.
const keys = regs.keys;

/** Posts `reply` and waits for the host's next message. */
function nextMessage<T>(reply: object): Promise<T> {
  return new Promise<T>((resolve) => {
    host.once('message', (m: T) => resolve(m));
    host.postMessage(reply);
  });
}

/** Parks the thread if the host asked for a pause; returns once it may run again. */
function parkIfAsked(): void {
  if (Atomics.load(ctl, Control.STATE) !== Control.PAUSE_REQUESTED) return;
  storeRegisters(registerFile, regs);
  Atomics.store(ctl, Control.STATE, Control.PAUSED);
  Atomics.notify(ctl, Control.STATE);
  while (Atomics.load(ctl, Control.STATE) === Control.PAUSED) Atomics.wait(ctl, Control.STATE, Control.PAUSED);
  // A paused vCPU does not make up for lost time when it runs again.
  if (data.churnPagesPerSec > 0) churnEpochMs = performance.now() - (churnDone / data.churnPagesPerSec) * 1000;
}

/** Wakes the event loop when the control word leaves RUNNING, so a pause is taken promptly. */
function watchControl(): void {
  const wait = Atomics.waitAsync(ctl, Control.STATE, Control.RUNNING);
  if (!wait.async) {
    parkIfAsked();
    setImmediate(watchControl);
    return;
  }
  void wait.value.then(() => {
    parkIfAsked();
    watchControl();
  });
}

let churnEpochMs = performance.now();
let churnDone = 0;
function churnTick(): void {
  parkIfAsked();
  if (data.churnPagesPerSec <= 0) return;
  const due = Math.floor(((performance.now() - churnEpochMs) / 1000) * data.churnPagesPerSec) - churnDone;
  // After a long stall, skip ahead rather than burst.
  const steps = Math.min(due, Math.ceil(data.churnPagesPerSec / 10));
  for (let i = 0; i < steps; i++) churn.step();
  churnDone += due;
}

function handle(store: KvStore, line: string): string {
  const [verb, key, value, extra] = line.split(' ');
  switch (verb) {
    case 'SET':
      if (key === undefined || value === undefined || extra !== undefined) return 'ERR usage: SET <key> <value>';
      if (key.length > MAX_KEY_BYTES || value.length > MAX_VALUE_BYTES) return 'ERR key or value too long';
      return store.set(key, value) ? 'OK' : 'ERR out of memory';
    case 'GET': {
      if (key === undefined || value !== undefined) return 'ERR usage: GET <key>';
      const found = store.get(key);
      return found === undefined ? 'NIL' : `VALUE ${found}`;
    }
    case 'INFO':
      return `INFO host=${data.hostName} generation=${regs.generation} keys=${regs.keys} sets=${regs.sets} churn=${regs.churnOps}`;
    default:
      return 'ERR unknown command';
  }
}

function serve(socket: net.Socket): void {
  socket.setNoDelay(true);
  const lines = new LineSplitter();
  socket.on('error', () => socket.destroy());
  socket.on('data', (chunk: Buffer) => {
    if (!store) {
      socket.end('ERR the guest is not running yet\n');
      return;
    }
    parkIfAsked();
    let replies = '';
    try {
      for (const line of lines.push(chunk)) replies += `${line.length > MAX_LINE_BYTES ? 'ERR line too long' : handle(store, line)}\n`;
    } catch (err) {
      socket.end(`ERR ${(err as Error).message}\n`);
      return;
    }
    if (replies) socket.write(replies);
  });
}

const ready: GuestReady = { type: 'ready', port, keys, generation: regs.generation, startMs: performance.now() - started };
host.postMessage(ready);
setInterval(churnTick, 2);
watchControl();
// fsck throws (and the worker dies) on a store that disagrees with the registers.
setImmediate(() => store!.fsck());
