import { describe, expect, it } from 'vitest';
import { hostPort, isLoopbackHost } from '../../src/transport/address.ts';

describe('isLoopbackHost', () => {
  it('takes 127.0.0.0/8, ::1 and localhost as loopback', () => {
    for (const host of ['127.0.0.1', '127.255.0.9', '::1', '0:0:0:0:0:0:0:1', '::ffff:127.0.0.1', 'localhost', 'LocalHost', 'localhost.']) {
      expect(isLoopbackHost(host), host).toBe(true);
    }
  });

  it('takes the wildcards, other addresses and any other name as not loopback', () => {
    for (const host of ['0.0.0.0', '::', '10.255.255.1', '128.0.0.1', '::2', '::ffff:10.0.0.1', 'dest.example', 'localhost.example', '']) {
      expect(isLoopbackHost(host), host).toBe(false);
    }
  });
});

describe('hostPort', () => {
  it('brackets IPv6 addresses only', () => {
    expect(hostPort('127.0.0.1', 7070)).toBe('127.0.0.1:7070');
    expect(hostPort('::1', 7070)).toBe('[::1]:7070');
    expect(hostPort('dest.example', 1)).toBe('dest.example:1');
  });
});
