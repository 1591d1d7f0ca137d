import { spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import type { VmNetwork } from './vm-spec.ts';

/**
 * One request to the guest's key-value service: over the bridge from inside the namespace
 * (busybox nc), or through QEMU's user-network port forward. Resolves with the answer line.
 */
export function kvRequest(network: VmNetwork, line: string, timeoutMs = 10_000): Promise<string> {
  if (network.kind === 'user') return kvOverTcp('127.0.0.1', network.hostPort, line, timeoutMs);
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', network.namespace, 'busybox', 'nc', network.ip, '7000'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`no answer to "${line}" within ${timeoutMs} ms`));
    }, timeoutMs);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('\n')) {
        clearTimeout(timer);
        child.kill('SIGTERM');
        resolve(out.split('\n')[0]!);
      }
    });
    child.stdin.write(`${line}\n`);
  });
}

function kvOverTcp(host: string, port: number, line: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port });
    let out = '';
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`no answer to "${line}" within ${timeoutMs} ms`)));
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${line}\n`));
    socket.on('data', (chunk: string) => {
      out += chunk;
      if (out.includes('\n')) {
        socket.destroy();
        resolve(out.split('\n')[0]!);
      }
    });
    socket.on('error', reject);
  });
}
