import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';

export interface LocalDynamo {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * DynamoDB for the local cloud: dynalite in this process, in memory, with no `CREATING`, `UPDATING`
 * or `DELETING` period (dynalite sets the final status just after it answers, so a client waits
 * for `ACTIVE` as it would on AWS, and the first check finds it); optionally each request delayed
 * by `latencyMs`.
 */
export async function startDynamo(options: { port?: number; latencyMs?: number } = {}): Promise<LocalDynamo> {
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  const latencyMs = options.latencyMs ?? 0;
  if (latencyMs > 0) {
    // Every request waits one round trip before dynalite sees it.
    const handlers = server.listeners('request') as ((...args: unknown[]) => void)[];
    server.removeAllListeners('request');
    server.on('request', (...args: unknown[]) => {
      setTimeout(() => {
        for (const handle of handlers) handle(...args);
      }, latencyMs);
    });
  }
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error?: Error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
