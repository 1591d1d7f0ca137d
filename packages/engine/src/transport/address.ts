import net from 'node:net';

/** 127.0.0.0/8 and ::1 (IPv4-mapped loopback, ::ffff:127.x.y.z, included). */
const loopback = new net.BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/**
 * Whether `host` names this machine's loopback interface and nothing else: an address in
 * 127.0.0.0/8, ::1, or the name `localhost`. Decided on the text, before any lookup: another
 * name is not loopback even if it resolves there, and the wildcards `0.0.0.0` and `::` (every
 * interface) are not loopback.
 */
export function isLoopbackHost(host: string): boolean {
  const name = host.toLowerCase();
  if (name === 'localhost' || name === 'localhost.') return true;
  const family = net.isIP(host);
  return family !== 0 && loopback.check(host, family === 6 ? 'ipv6' : 'ipv4');
}

/** `host:port`, with an IPv6 address in brackets (`[::1]:7070`). */
export function hostPort(host: string, port: number): string {
  return net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}
