/**
 * Mutual TLS for the migration connection (node:tls): each side presents a certificate and
 * accepts only a peer whose certificate chains to `ca`. Encrypts and authenticates the whole
 * page stream, not only the handshake.
 */
export interface TlsOptions {
  /** This side's private key (PEM). */
  readonly key: string | Buffer;
  /** This side's certificate chain (PEM). */
  readonly cert: string | Buffer;
  /** The authority (or authorities) a peer's certificate must chain to (PEM). */
  readonly ca: string | Buffer | readonly (string | Buffer)[];
  /** Source only: the name the destination's certificate must carry; default the host connected to. */
  readonly servername?: string;
}
