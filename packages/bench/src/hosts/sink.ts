/** The physical-limit baseline's receiver: counts bytes until the sender closes, then reports. */
import net from 'node:net';

const server = net.createServer((socket) => {
  let bytes = 0;
  socket.on('data', (c: Buffer) => {
    bytes += c.byteLength;
  });
  socket.on('end', () => {
    process.send?.({ type: 'done', bytes });
    socket.end();
    server.close();
    setTimeout(() => process.exit(0), 50);
  });
});
server.listen(0, process.env.FERRY_BENCH_LISTEN ?? '127.0.0.1', () =>
  process.send?.({ type: 'listening', port: (server.address() as net.AddressInfo).port }),
);
