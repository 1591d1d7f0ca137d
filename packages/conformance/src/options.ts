import { readFileSync } from 'node:fs';
import type { Layout } from './scenario.ts';

/** "4M", "65536", "2G": bytes (powers of 1024). */
export function parseBytes(s: string, what: string): number {
  const m = /^(\d+)([KMG]?)(i?B)?$/i.exec(s.trim());
  if (!m) throw new Error(`${what}: "${s}" is not a size (e.g. 4096, 64K, 4M)`);
  const unit = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G'];
  return Number(m[1]) * unit;
}

/** The guest layout from --page-size and --region name:bytes (default: one region ram0 of 4 MiB, 4 KiB pages). */
export function parseLayout(pageSize: string, regions: readonly string[]): Layout {
  const ps = parseBytes(pageSize, '--page-size');
  if (ps < 4096 || ps > 2 * 1024 * 1024 || (ps & (ps - 1)) !== 0) throw new Error(`--page-size ${ps}: a power of two from 4096 to 2097152`);
  const list = (regions.length ? regions : ['ram0:4M']).map((r) => {
    const at = r.lastIndexOf(':');
    if (at <= 0) throw new Error(`--region "${r}": name:bytes, e.g. ram0:4M`);
    const sizeBytes = parseBytes(r.slice(at + 1), '--region');
    if (sizeBytes === 0 || sizeBytes % ps !== 0) throw new Error(`--region "${r}": the size must be a positive multiple of the page size`);
    return { name: r.slice(0, at), sizeBytes };
  });
  return { pageSize: ps, regions: list };
}

/** The key from --psk-file (raw bytes or hex text) or --psk-hex; undefined when neither. */
export function parsePsk(o: { pskFile?: string; pskHex?: string }): Buffer | undefined {
  if (o.pskHex) return Buffer.from(o.pskHex, 'hex');
  if (!o.pskFile) return undefined;
  const raw = readFileSync(o.pskFile);
  const text = raw.toString('utf8').trim();
  return /^[0-9a-f]+$/i.test(text) && text.length % 2 === 0 ? Buffer.from(text, 'hex') : raw;
}

export function parseHostPort(s: string, what: string): { host: string; port: number } {
  const at = s.lastIndexOf(':');
  const port = Number(s.slice(at + 1));
  if (at <= 0 || !Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${what} "${s}": HOST:PORT`);
  return { host: s.slice(0, at).replace(/^\[|\]$/g, ''), port };
}
