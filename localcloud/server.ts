import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { BucketSpec } from '../src/aws/aws-buckets.ts';
import { AwsError, type QueryRequest, type QueryService } from './contracts.ts';
import { errorDocument } from './xml.ts';

/** A token bucket's size and how many tokens come back each (real) second. */
export type { BucketSpec };

/** Tokens a request takes from one bucket. Buckets are created on first use, keyed by `key`. */
export interface BucketCharge {
  key: string;
  spec: BucketSpec;
  cost: number;
}

/** One service behind the server, with how it is throttled. */
export interface Route {
  service: QueryService;
  /** The buckets a request draws from; an empty list means the request is never throttled. */
  charges(request: QueryRequest): BucketCharge[];
  /** The error this service returns when a bucket is empty. */
  throttled(request: QueryRequest): AwsError;
}

export interface ThrottleOptions {
  /**
   * Overrides bucket sizes by bucket key. EC2 keys are action names (`RunInstances`,
   * `DescribeVpcs`, …), `DescribeInstances (unfiltered)` (likewise for DescribeVolumes and
   * DescribeNetworkInterfaces), `RunInstances (instances)` and `TerminateInstances (instances)`;
   * ELBv2 keys are `elbv2:<Action>`.
   */
  buckets?: Record<string, BucketSpec>;
}

export interface ServerOptions {
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Token buckets in real time, as AWS applies them. `false` turns throttling off. */
  throttling?: boolean | ThrottleOptions;
  /**
   * Real milliseconds every request waits before it is handled (the network and service time of
   * one AWS round trip); default 0. Buckets are charged on arrival, as AWS charges them.
   */
  latencyMs?: number;
}

export interface LocalServer {
  /** `http://127.0.0.1:<port>` */
  readonly endpoint: string;
  readonly port: number;
  /**
   * The next `times` calls of `action` (those whose parameters `matches` accepts, when given) fail
   * with `code` before touching any state.
   */
  injectFault(
    action: string,
    code: string,
    times?: number,
    matches?: (params: Record<string, string>) => boolean,
  ): void;
  /** Requests received for `action` (every outcome), or for all actions. */
  calls(action?: string): number;
  /** Requests refused by a token bucket, for `action` or for all actions. */
  throttled(action?: string): number;
  /** Every bucket full again (a scenario's setup should not spend the budget it measures). */
  refillBuckets(): void;
  /** Calls `listener` with every request as it arrives (before faults, throttling and latency). */
  onRequest(listener: (request: QueryRequest) => void): () => void;
  close(): Promise<void>;
}

/** HTTP status AWS uses for an error code that a fault injects. */
export function statusForCode(code: string): number {
  switch (code) {
    case 'RequestLimitExceeded':
    case 'ServiceUnavailable':
    case 'Unavailable':
      return 503;
    case 'InternalError':
    case 'InternalFailure':
      return 500;
    default:
      return 400;
  }
}

function faultMessage(code: string): string {
  switch (code) {
    case 'RequestLimitExceeded':
      return 'Request limit exceeded.';
    case 'InternalError':
      return 'An internal error has occurred';
    default:
      return `${code} (fault injected by the local cloud)`;
  }
}

class TokenBucket {
  private tokens: number;
  private last = performance.now();

  constructor(private readonly spec: BucketSpec) {
    this.tokens = spec.capacity;
  }

  /** Takes `cost` tokens if the bucket holds them (a cost above the capacity needs a full bucket). */
  take(cost: number): boolean {
    const now = performance.now();
    this.tokens = Math.min(
      this.spec.capacity,
      this.tokens + ((now - this.last) / 1000) * this.spec.refillPerSecond,
    );
    this.last = now;
    if (this.tokens < Math.min(cost, this.spec.capacity)) return false;
    this.tokens -= cost;
    return true;
  }
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function genericError(code: string, message: string, requestId: string): string {
  return errorDocument({ code, message, httpStatus: 400 }, requestId);
}

/**
 * The local cloud's front door: a loopback HTTP server speaking the AWS Query protocol. It routes
 * each request by `Version` to a service, applies injected faults and token-bucket throttling, and
 * writes the service's XML.
 */
export async function startServer(
  routes: readonly Route[],
  options: ServerOptions = {},
): Promise<LocalServer> {
  const byVersion = new Map(routes.map((route) => [route.service.apiVersion, route]));
  const throttling = options.throttling ?? true;
  const overrides = typeof throttling === 'object' ? (throttling.buckets ?? {}) : {};
  const buckets = new Map<string, TokenBucket>();
  const faults = new Map<
    string,
    { code: string; remaining: number; matches?: (params: Record<string, string>) => boolean }[]
  >();
  const counts = new Map<string, number>();
  const throttledCounts = new Map<string, number>();
  const arrivals = new Set<(request: QueryRequest) => void>();
  const latencyMs = options.latencyMs ?? 0;
  if (!(Number.isFinite(latencyMs) && latencyMs >= 0))
    throw new Error(`latencyMs must be a non-negative number of milliseconds, got ${latencyMs}`);
  let total = 0;

  const bucket = (charge: BucketCharge) => {
    let found = buckets.get(charge.key);
    if (!found) {
      found = new TokenBucket(overrides[charge.key] ?? charge.spec);
      buckets.set(charge.key, found);
    }
    return found;
  };

  const nextFault = (action: string, params: Record<string, string>) => {
    const queue = faults.get(action);
    const at = queue?.findIndex((f) => f.matches === undefined || f.matches(params)) ?? -1;
    const fault = queue?.[at];
    if (!queue || !fault) return undefined;
    fault.remaining--;
    if (fault.remaining <= 0) queue.splice(at, 1);
    return new AwsError(fault.code, faultMessage(fault.code), statusForCode(fault.code));
  };

  const send = (res: ServerResponse, status: number, body: string, requestId: string) => {
    res.writeHead(status, {
      'content-type': 'text/xml;charset=UTF-8',
      'content-length': Buffer.byteLength(body),
      'x-amzn-requestid': requestId,
    });
    res.end(body);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const requestId = randomUUID();
    const url = new URL(req.url ?? '/', 'http://localhost');
    const form = new URLSearchParams(req.method === 'POST' ? await readBody(req) : url.search);
    const action = form.get('Action') ?? '';
    const version = form.get('Version') ?? '';
    if (!action) return send(res, 400, genericError('MissingAction', 'Missing Action', requestId), requestId);
    const route = byVersion.get(version);
    if (!route) {
      return send(
        res,
        400,
        genericError('NoSuchVersion', `Unknown API version '${version}'`, requestId),
        requestId,
      );
    }
    const params: Record<string, string> = {};
    for (const [key, value] of form) {
      if (key !== 'Action' && key !== 'Version') params[key] = value;
    }
    const request: QueryRequest = { action, version, params, requestId };
    counts.set(action, (counts.get(action) ?? 0) + 1);
    total++;
    for (const listener of arrivals) listener(request);
    try {
      const fault = nextFault(action, params);
      if (fault) throw fault;
      if (throttling !== false) {
        for (const charge of route.charges(request)) {
          if (!bucket(charge).take(charge.cost)) {
            throttledCounts.set(action, (throttledCounts.get(action) ?? 0) + 1);
            throw route.throttled(request);
          }
        }
      }
      if (latencyMs > 0) await delay(latencyMs);
      send(res, 200, await route.service.handle(request), requestId);
    } catch (error) {
      const awsError =
        error instanceof AwsError
          ? error
          : new AwsError('InternalError', `Local cloud failure: ${(error as Error).message}`, 500);
      if (!(error instanceof AwsError)) console.error(error);
      if (latencyMs > 0) await delay(latencyMs);
      send(res, awsError.httpStatus, route.service.renderError(awsError, requestId), requestId);
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      console.error(error);
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    injectFault(action, code, times = 1, matches) {
      if (!(Number.isInteger(times) && times > 0))
        throw new Error(`times must be a positive integer, got ${times}`);
      const queue = faults.get(action) ?? [];
      queue.push({ code, remaining: times, matches });
      faults.set(action, queue);
    },
    calls: (action) => (action === undefined ? total : (counts.get(action) ?? 0)),
    throttled: (action) =>
      action === undefined
        ? [...throttledCounts.values()].reduce((a, b) => a + b, 0)
        : (throttledCounts.get(action) ?? 0),
    refillBuckets: () => buckets.clear(),
    onRequest(listener) {
      arrivals.add(listener);
      return () => arrivals.delete(listener);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
