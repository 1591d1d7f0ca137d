import net from 'node:net';

/** Sends `bytes` on a fresh connection to 127.0.0.1:`port` and returns everything the peer sends before it closes (5 s at most). */
export function rawExchange(port: number, bytes: Uint8Array): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes));
    s.on('data', (c) => chunks.push(c));
    s.on('close', () => resolve(Buffer.concat(chunks)));
    s.on('error', reject);
    setTimeout(() => {
      s.destroy();
      reject(new Error('peer did not close'));
    }, 5000).unref();
  });
}
