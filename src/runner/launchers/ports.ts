/** Free TCP ports for servers tanalyze starts, and a check that a chosen port is free. */
import net from 'node:net';

/** `n` distinct ports the OS reports free right now (bound to port 0, then released). */
export async function freePorts(n: number, host = '127.0.0.1'): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    const ports: number[] = [];
    // Hold each one open until all are picked, so the OS cannot hand out the same port twice.
    for (let i = 0; i < n; i++) {
      const s = net.createServer();
      servers.push(s);
      ports.push(
        await new Promise<number>((resolve, reject) => {
          s.once('error', reject);
          s.listen(0, host, () => resolve((s.address() as net.AddressInfo).port));
        }),
      );
    }
    return ports;
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

/** Whether something already listens on host:port (a bind attempt fails with EADDRINUSE). */
export async function portInUse(port: number, host = '0.0.0.0'): Promise<boolean> {
  return new Promise<boolean>((resolve) => {
    const s = net.createServer();
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'EADDRINUSE' || e.code === 'EACCES'));
    s.listen({ port, host, exclusive: true }, () => s.close(() => resolve(false)));
  });
}
