import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import type { EventEnvelope } from '../src/core/events.ts';
import type { VirtualClock } from './contracts.ts';
import { compilePattern, type EventMatcher, loadFunctionPatterns } from './event-patterns.ts';

/**
 * EventBridge and Lambda's asynchronous invocation, in process: each event goes to every function
 * whose rule pattern (from serverless.yml) matches it; a failed invocation is retried twice (after
 * 1 and 2 minutes of virtual time, as Lambda does) and then lands in the dead-letter list.
 */

export type Invoke = (event: EventEnvelope, context: LambdaLikeContext) => Promise<unknown>;

export interface LocalFunction {
  functionName: string;
  /** The function's EventBridge rule patterns, compiled (none for a scheduled function). */
  matches: EventMatcher;
  /** `schedule: rate(…)`: invoked every so many ms of virtual time. */
  everyMs?: number;
  /** Lambda's async retries (`maximumRetryAttempts`, default 2). */
  retries: number;
  invoke: Invoke;
}

export interface LambdaLikeContext {
  functionName: string;
  functionVersion: string;
  invokedFunctionArn: string;
  memoryLimitInMB: string;
  awsRequestId: string;
  logGroupName: string;
  logStreamName: string;
  callbackWaitsForEmptyEventLoop: boolean;
  getRemainingTimeInMillis(): number;
}

export interface Delivery {
  functionName: string;
  event: EventEnvelope;
  attempt: number;
  at: Date;
  ok: boolean;
  result?: unknown;
  error?: Error;
}

const RETRY_DELAYS_MS = [60_000, 120_000];
const TIMEOUT_MS = 60_000;

export class LocalEventBus {
  readonly deadLetters: Delivery[] = [];
  private readonly listeners = new Set<(delivery: Delivery) => void>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly cancels: (() => void)[] = [];
  /** Per function, the invocation running: a container serves one invocation at a time. */
  private readonly containers = new Map<string, Promise<void>>();

  constructor(
    private readonly functions: readonly LocalFunction[],
    private readonly clock: VirtualClock,
    private readonly region = 'us-east-1',
    private readonly accountId = '123456789012',
  ) {
    for (const fn of functions) {
      const every = fn.everyMs;
      if (every === undefined) continue;
      const tick = () => {
        this.track(this.invoke(fn, this.scheduledEvent(fn.functionName), 1));
        this.cancels.push(this.clock.schedule(every, tick));
      };
      this.cancels.push(this.clock.schedule(every, tick));
    }
  }

  /** Stops the schedules. */
  close(): void {
    for (const cancel of this.cancels.splice(0)) cancel();
  }

  private scheduledEvent(functionName: string): EventEnvelope {
    return {
      version: '0',
      id: randomUUID(),
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      account: this.accountId,
      time: this.clock
        .now()
        .toISOString()
        .replace(/\.\d{3}Z$/, 'Z'),
      region: this.region,
      resources: [`arn:aws:events:${this.region}:${this.accountId}:rule/${functionName}-schedule`],
      detail: {},
    };
  }

  /** Names of the functions whose rules match the event. */
  route(event: EventEnvelope): string[] {
    return this.functions.filter((f) => f.matches(event)).map((f) => f.functionName);
  }

  /** Delivers asynchronously, like PutEvents: returns at once. */
  put(event: EventEnvelope): void {
    for (const fn of this.functions) {
      if (fn.matches(event)) this.track(this.invoke(fn, event, 1));
    }
  }

  onDelivery(listener: (delivery: Delivery) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Resolves once no invocation is running (retries scheduled for later are not waited for). */
  async idle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private track(work: Promise<void>): void {
    this.inFlight.add(work);
    void work.finally(() => this.inFlight.delete(work));
  }

  /** Queues the invocation behind the function's running one (one container per function, as Lambda runs one invocation per container). */
  private invoke(fn: LocalFunction, event: EventEnvelope, attempt: number): Promise<void> {
    const previous = this.containers.get(fn.functionName) ?? Promise.resolve();
    const next = previous.then(() => this.run(fn, event, attempt));
    this.containers.set(fn.functionName, next);
    return next;
  }

  private async run(fn: LocalFunction, event: EventEnvelope, attempt: number): Promise<void> {
    const context = this.contextFor(fn.functionName);
    let delivery: Delivery;
    try {
      const result = await fn.invoke(structuredClone(event), context);
      delivery = { functionName: fn.functionName, event, attempt, at: this.clock.now(), ok: true, result };
    } catch (caught) {
      const error = caught instanceof Error ? caught : new Error(String(caught));
      delivery = { functionName: fn.functionName, event, attempt, at: this.clock.now(), ok: false, error };
      const delay = attempt <= fn.retries ? RETRY_DELAYS_MS[attempt - 1] : undefined;
      if (delay === undefined) this.deadLetters.push(delivery);
      else this.clock.schedule(delay, () => this.track(this.invoke(fn, event, attempt + 1)));
    }
    for (const listener of this.listeners) listener(delivery);
  }

  private contextFor(functionName: string): LambdaLikeContext {
    const started = Date.now();
    return {
      functionName,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${this.region}:${this.accountId}:function:${functionName}`,
      memoryLimitInMB: '256',
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/${functionName}`,
      logStreamName: 'local',
      callbackWaitsForEmptyEventLoop: false,
      getRemainingTimeInMillis: () => Math.max(0, TIMEOUT_MS - (Date.now() - started)),
    };
  }
}

const RATE = /^rate\((\d+) (minute|minutes|hour|hours)\)$/;

interface FunctionSettings {
  everyMs?: number;
  retries: number;
}

/** Declarations of `serverless.yml` the bus needs beyond the patterns: schedules and retries. */
function functionSettings(path: string): Map<string, FunctionSettings> {
  const document = parse(readFileSync(path, 'utf8')) as {
    functions?: Record<string, Record<string, unknown>>;
  };
  const settings = new Map<string, FunctionSettings>();
  for (const [name, definition] of Object.entries(document.functions ?? {})) {
    const retries =
      typeof definition['maximumRetryAttempts'] === 'number' ? definition['maximumRetryAttempts'] : 2;
    let everyMs: number | undefined;
    for (const event of (definition['events'] as Record<string, unknown>[] | undefined) ?? []) {
      const schedule = event['schedule'] as { rate?: unknown } | string | undefined;
      const rate = typeof schedule === 'string' ? schedule : schedule?.rate;
      const match = typeof rate === 'string' ? RATE.exec(rate) : null;
      if (typeof rate === 'string' && !match)
        throw new Error(
          `functions.${name}: schedule ${rate} is not a rate(N minutes|hours) the local bus plays.`,
        );
      if (match) everyMs = Number(match[1]) * (match[2]!.startsWith('hour') ? 3_600_000 : 60_000);
    }
    settings.set(name, { everyMs, retries });
  }
  return settings;
}

/** The handler of the function serverless.yml names so, built by the caller: the bus runs handlers, it does not load them. */
export type BuildHandler = (functionName: string) => Invoke;

/** The functions declared in serverless.yml (under `root`), each with the handler `build` gives it. */
export function loadLocalFunctions(build: BuildHandler, root: string = process.cwd()): LocalFunction[] {
  const path = resolve(root, 'serverless.yml');
  const patterns = loadFunctionPatterns(path);
  return [...functionSettings(path)].map(([functionName, { everyMs, retries }]) => {
    const matchers = patterns
      .filter((p) => p.functionName === functionName)
      .map((p) => compilePattern(p.pattern));
    const matches: EventMatcher = (event) => matchers.some((m) => m(event));
    return { functionName, matches, everyMs, retries, invoke: build(functionName) };
  });
}
