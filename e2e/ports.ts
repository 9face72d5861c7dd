import { createServer, type AddressInfo } from 'node:net';

/** Ports handed out in this process: the OS may offer a port again until someone binds it. */
const given = new Set<number>();

/** A TCP port on loopback that was free a moment ago, and not handed out before by this process. */
export async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer().listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as AddressInfo;
    await new Promise((resolve) => server.close(resolve));
    if (!given.has(port)) {
      given.add(port);
      return port;
    }
  }
}
