import { readFileSync, statSync } from 'node:fs';
import { UsageError } from './usage-error.ts';

/** The environment variable that may hold the pre-shared key, as hex. */
export const PSK_ENV = 'FERRY_PSK_HEX';

/**
 * The pre-shared key: from `--psk-file` (64 or more hex digits, or 16 or more raw bytes), else
 * from FERRY_PSK_HEX, else none. Never from an argument: argv is visible to every user of the
 * machine (ps, /proc/<pid>/cmdline). A key file that others may read is refused.
 */
export function readPsk(file: string | undefined, env: NodeJS.ProcessEnv = process.env): Uint8Array | undefined {
  if (file !== undefined) {
    let bytes: Buffer;
    try {
      const mode = statSync(file).mode;
      if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
        throw new UsageError(`key file ${file} may be read by others (mode ${(mode & 0o777).toString(8)}): chmod 600 it`);
      }
      bytes = readFileSync(file);
    } catch (err) {
      if (err instanceof UsageError) throw err;
      throw new UsageError(`cannot read key file ${file}: ${(err as Error).message}`);
    }
    const text = bytes.toString('utf8').trim();
    if (/^[0-9a-fA-F]+$/.test(text) && text.length % 2 === 0) return fromHex(text, `key file ${file}`);
    if (bytes.byteLength < 16) throw new UsageError(`key file ${file} holds ${bytes.byteLength} bytes; a key needs at least 16`);
    return new Uint8Array(bytes);
  }
  const hex = env[PSK_ENV];
  if (hex !== undefined && hex !== '') return fromHex(hex.trim(), PSK_ENV);
  return undefined;
}

function fromHex(hex: string, where: string): Uint8Array {
  if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length % 2 !== 0) throw new UsageError(`${where} is not hex`);
  if (hex.length < 32) throw new UsageError(`${where} holds ${hex.length / 2} bytes; a key needs at least 16`);
  return new Uint8Array(Buffer.from(hex, 'hex'));
}
