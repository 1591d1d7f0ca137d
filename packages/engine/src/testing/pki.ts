import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TlsOptions } from '../transport/tls-options.ts';

export interface TestPki {
  /** The CA both sides trust (PEM). */
  readonly ca: string;
  /** A destination certificate for 127.0.0.1 under that CA. */
  readonly destination: TlsOptions;
  /** A source certificate under that CA. */
  readonly source: TlsOptions;
  /** A certificate for 127.0.0.1 from another CA, with the real CA as its trust: a stranger. */
  readonly stranger: TlsOptions;
}

/**
 * A throwaway PKI for tests and benchmarks, made with the openssl CLI (P-256 keys, valid two
 * days), or undefined when there is no openssl to make it.
 */
export function makeTestPki(): TestPki | undefined {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
  } catch {
    return undefined;
  }
  const dir = mkdtempSync(join(tmpdir(), 'ferry-pki-'));
  const run = (...args: string[]): void => {
    execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  };
  const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const authority = (name: string): void =>
    run('req', '-x509', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-subj', `/CN=${name}`, '-days', '2');
  const leaf = (name: string, ca: string): void => {
    writeFileSync(join(dir, `${name}.ext`), 'subjectAltName=IP:127.0.0.1\n');
    run('req', ...ecKey, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
    run(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${ca}.crt`,
      '-CAkey',
      `${ca}.key`,
      '-CAcreateserial',
      '-out',
      `${name}.crt`,
      '-days',
      '2',
      '-extfile',
      `${name}.ext`,
    );
  };
  authority('ferry-ca');
  authority('other-ca');
  leaf('destination', 'ferry-ca');
  leaf('source', 'ferry-ca');
  leaf('stranger', 'other-ca');
  const read = (f: string): string => readFileSync(join(dir, f), 'utf8');
  const ca = read('ferry-ca.crt');
  const opts = (name: string): TlsOptions => ({ key: read(`${name}.key`), cert: read(`${name}.crt`), ca });
  return { ca, destination: opts('destination'), source: opts('source'), stranger: opts('stranger') };
}
