import { readFileSync } from 'node:fs';
import type { TlsOptions } from '@ferry/engine';
import { type Command, Option } from 'commander';
import type { AdapterOptions } from './adapters/index.ts';
import { parseInteger } from './address.ts';
import { PSK_ENV, readPsk } from './psk.ts';
import { UsageError } from './usage-error.ts';

/** The security options every networked command takes; the key never comes from argv. */
export function securityOptions(cmd: Command): Command {
  return cmd
    .option('--psk-file <file>', `pre-shared key file (hex, or 16+ raw bytes; mode 600); else $${PSK_ENV}`)
    .option('--tls-key <file>', 'TLS private key (PEM): mutual TLS with --tls-cert and --tls-ca')
    .option('--tls-cert <file>', 'TLS certificate (PEM)')
    .option('--tls-ca <file>', 'CA certificate (PEM) the peer must chain to')
    .option('--insecure', 'allow no psk/tls beyond loopback (a network you trust)', false)
    .addOption(new Option('--psk <key>', 'refused: a key on the command line is visible to every user').hideHelp());
}

export interface SecurityValues {
  readonly pskFile?: string;
  readonly psk?: string;
  readonly tlsKey?: string;
  readonly tlsCert?: string;
  readonly tlsCa?: string;
  readonly insecure?: boolean;
}

/** `psk`, `tls`, `insecure` for the engine, from the options and the environment. */
export function security(v: SecurityValues): { psk?: Uint8Array; tls?: TlsOptions; insecure?: boolean } {
  if (v.psk !== undefined) {
    throw new UsageError(`--psk is refused: argv is visible to every user of this machine; use --psk-file FILE or $${PSK_ENV}`);
  }
  const psk = readPsk(v.pskFile);
  const tlsFiles = [v.tlsKey, v.tlsCert, v.tlsCa];
  let tls: TlsOptions | undefined;
  if (tlsFiles.some((f) => f !== undefined)) {
    if (tlsFiles.some((f) => f === undefined)) throw new UsageError('TLS needs all of --tls-key, --tls-cert and --tls-ca');
    const read = (f: string): Buffer => {
      try {
        return readFileSync(f);
      } catch (err) {
        throw new UsageError(`cannot read ${f}: ${(err as Error).message}`);
      }
    };
    tls = { key: read(v.tlsKey!), cert: read(v.tlsCert!), ca: read(v.tlsCa!) };
  }
  return { ...(psk && { psk }), ...(tls && { tls }), ...(v.insecure && { insecure: true }) };
}

/** The guest adapter options (`--guest` and what each adapter reads). */
export function guestOptions(cmd: Command, required: boolean): Command {
  const guest = new Option(
    '--guest <adapter>',
    'where the guest comes from: raw (a memory image file), kv (the demo key-value guest) or qemu (a QEMU VM)',
  );
  return cmd
    .addOption(required ? guest.makeOptionMandatory() : guest)
    .option('--image <file>', 'raw: the memory image to migrate (a whole number of 4 KiB pages)')
    .option('--out <file>', 'raw: the file the received memory becomes')
    .option('--force', 'raw: overwrite --out', false)
    .option('--pid <pid>', 'raw: the process writing the image (stopped for the switchover, killed once the destination runs the guest)')
    .option('--device-state <file>', 'raw: device state to send (source) or where to write it (destination)')
    .option('--size-mib <n>', 'kv: guest memory in MiB (default 64); on a destination, the only size it takes')
    .option('--churn <pages>', 'kv: pages per second the guest rewrites in the background (default 2000)')
    .option('--qmp <socket>', 'qemu: the QEMU QMP socket (the destination QEMU started with -incoming defer)')
    .option('--ram <file>', 'qemu: the QEMU RAM file (memory-backend-file share=on)');
}

export interface GuestValues {
  readonly guest?: string;
  readonly image?: string;
  readonly out?: string;
  readonly force?: boolean;
  readonly pid?: string;
  readonly deviceState?: string;
  readonly sizeMib?: string;
  readonly churn?: string;
  readonly qmp?: string;
  readonly ram?: string;
}

export function adapterOptions(v: GuestValues): AdapterOptions {
  return {
    image: v.image,
    out: v.out,
    force: v.force,
    deviceState: v.deviceState,
    pid: v.pid === undefined ? undefined : parseInteger(v.pid, '--pid', 1),
    sizeMiB: v.sizeMib === undefined ? undefined : parseInteger(v.sizeMib, '--size-mib', 1, 1 << 20),
    churn: v.churn === undefined ? undefined : parseInteger(v.churn, '--churn', 0),
    qmp: v.qmp,
    ram: v.ram,
  };
}
