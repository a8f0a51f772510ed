import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { parse } from 'yaml';
import type { EventEnvelope } from '../src/core/events.ts';
import type { VirtualClock } from './contracts.ts';
import { compilePattern, type EventMatcher, loadFunctionPatterns } from './event-patterns.ts';

/**
 * EventBridge and Lambda's asynchronous invocation, in process: each event goes to every function
 * whose rule pattern (from serverless.yml) matches it; a failed invocation is retried twice (after
 * 1 and 2 minutes of virtual time, as Lambda does) and then lands in the dead-letter list.
 *
 * With delivery `queue`, a function that infra/delivery.cjs feeds from a queue gets its events
 * through one instead, as the deployment wires it: batches of up to `batchSize` messages gathered for up to
 * `maximumBatchingWindow` seconds (real time, as the benchmark measures it), at most
 * `maximumConcurrency` batches at once; the messages a batch reports as failed come back after the
 * visibility timeout (virtual time) and land in the dead-letter list after `maxReceiveCount`
 * receives.
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
  /** The function's queue's event source mapping (infra/delivery.cjs), used with delivery `queue`. */
  queue?: QueueSource;
  invoke: Invoke;
}

/** An SQS queue and its event source mapping, as infra/delivery.cjs deploys them. */
export interface QueueSource {
  batchSize: number;
  batchingWindowMs: number;
  maxConcurrency: number;
  /** Virtual ms before a record a batch failed is received again. */
  visibilityTimeoutMs: number;
  /** Receives before a record goes to the dead-letter list. */
  maxReceiveCount: number;
}

export interface LocalEventBusOptions {
  /** `direct` (default): one asynchronous invocation per event. `queue`: through the function's queue. */
  delivery?: 'direct' | 'queue';
  /** Direct invocations of one function running at once (default 1: one container). */
  concurrency?: number;
  /**
   * The clock a queue's batching window runs on: `real` (default) or the local cloud's `virtual`
   * one, for a clock that moves by itself at a speed (a demo), where a one-second window is one
   * second of local-cloud time, as EC2's transitions are.
   */
  batchingWindowClock?: 'real' | 'virtual';
}

interface QueuedMessage {
  messageId: string;
  event: EventEnvelope;
  receives: number;
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
  /** Per function, the invocations running (at most `concurrency`) and those waiting for a container. */
  private readonly running = new Map<string, number>();
  private readonly waiting = new Map<string, (() => void)[]>();
  /** Per function with a queue: its messages, its batches running, whether a batch is gathering. */
  private readonly queues = new Map<
    string,
    { messages: QueuedMessage[]; batches: number; gathering: boolean }
  >();
  private readonly options: Required<LocalEventBusOptions>;

  constructor(
    private readonly functions: readonly LocalFunction[],
    private readonly clock: VirtualClock,
    private readonly region = 'us-east-1',
    private readonly accountId = '123456789012',
    options: LocalEventBusOptions = {},
  ) {
    this.options = {
      delivery: options.delivery ?? 'direct',
      concurrency: options.concurrency ?? 1,
      batchingWindowClock: options.batchingWindowClock ?? 'real',
    };
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

  /** How often a scheduled function runs (its `schedule: rate(…)`), in ms of local-cloud time. */
  periodOf(functionName: string): number {
    const every = this.functions.find((f) => f.functionName === functionName)?.everyMs;
    if (every === undefined) throw new Error(`serverless.yml schedules no function ${functionName}.`);
    return every;
  }

  /** Names of the functions whose rules match the event. */
  route(event: EventEnvelope): string[] {
    return this.functions.filter((f) => f.matches(event)).map((f) => f.functionName);
  }

  /** Delivers asynchronously, like PutEvents: returns at once. */
  put(event: EventEnvelope): void {
    for (const fn of this.functions) {
      if (!fn.matches(event)) continue;
      if (this.options.delivery === 'queue' && fn.queue)
        this.enqueue(fn, fn.queue, [{ messageId: randomUUID(), event, receives: 0 }]);
      else this.track(this.invoke(fn, event, 1));
    }
  }

  private enqueue(fn: LocalFunction, source: QueueSource, messages: QueuedMessage[]): void {
    const queue = this.queues.get(fn.functionName) ?? { messages: [], batches: 0, gathering: false };
    this.queues.set(fn.functionName, queue);
    queue.messages.push(...messages);
    this.poll(fn, source);
  }

  /** Starts a batch when a poller is free: at once when full, else after the batching window. */
  private poll(fn: LocalFunction, source: QueueSource): void {
    const queue = this.queues.get(fn.functionName)!;
    if (queue.gathering || queue.messages.length === 0 || queue.batches >= source.maxConcurrency) return;
    queue.gathering = true;
    const full = queue.messages.length >= source.batchSize;
    this.track(
      new Promise<void>((resolve) => {
        if (full) setTimeout(resolve, 0);
        else if (this.options.batchingWindowClock === 'virtual')
          this.clock.schedule(source.batchingWindowMs, resolve);
        else setTimeout(resolve, source.batchingWindowMs);
      }).then(() => {
        queue.gathering = false;
        const batch = queue.messages.splice(0, source.batchSize);
        if (batch.length === 0) return;
        queue.batches += 1;
        this.poll(fn, source);
        return this.runBatch(fn, source, batch).finally(() => {
          queue.batches -= 1;
          this.poll(fn, source);
        });
      }),
    );
  }

  private async runBatch(fn: LocalFunction, source: QueueSource, batch: QueuedMessage[]): Promise<void> {
    for (const message of batch) message.receives += 1;
    const records = batch.map((m) => ({
      messageId: m.messageId,
      receiptHandle: m.messageId,
      body: JSON.stringify(m.event),
      attributes: { ApproximateReceiveCount: String(m.receives) },
      messageAttributes: {},
      md5OfBody: '',
      eventSource: 'aws:sqs',
      eventSourceARN: `arn:aws:sqs:${this.region}:${this.accountId}:${fn.functionName}-queue`,
      awsRegion: this.region,
    }));
    let failedIds: Set<string>;
    let result: unknown;
    let error: Error | undefined;
    try {
      result = await fn.invoke(
        { Records: records } as unknown as EventEnvelope,
        this.contextFor(fn.functionName),
      );
      const failures = (result as { batchItemFailures?: { itemIdentifier: string }[] } | undefined)
        ?.batchItemFailures;
      failedIds = new Set((failures ?? []).map((f) => f.itemIdentifier));
    } catch (caught) {
      error = caught instanceof Error ? caught : new Error(String(caught));
      failedIds = new Set(batch.map((m) => m.messageId));
    }
    for (const message of batch) {
      const ok = !failedIds.has(message.messageId);
      const delivery: Delivery = {
        functionName: fn.functionName,
        event: message.event,
        attempt: message.receives,
        at: this.clock.now(),
        ok,
        result,
        ...(ok ? {} : { error: error ?? new Error('Reported as a batch item failure.') }),
      };
      if (!ok && message.receives >= source.maxReceiveCount) this.deadLetters.push(delivery);
      for (const listener of this.listeners) listener(delivery);
    }
    const again = batch.filter((m) => failedIds.has(m.messageId) && m.receives < source.maxReceiveCount);
    if (again.length > 0) {
      this.clock.schedule(source.visibilityTimeoutMs, () => this.enqueue(fn, source, again));
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

  /** Runs the invocation once one of the function's `concurrency` containers is free. */
  private async invoke(fn: LocalFunction, event: EventEnvelope, attempt: number): Promise<void> {
    const name = fn.functionName;
    if ((this.running.get(name) ?? 0) >= this.options.concurrency) {
      await new Promise<void>((resolve) => {
        this.waiting.set(name, [...(this.waiting.get(name) ?? []), resolve]);
      });
    } else {
      this.running.set(name, (this.running.get(name) ?? 0) + 1);
    }
    try {
      await this.run(fn, event, attempt);
    } finally {
      const next = this.waiting.get(name)?.shift();
      if (next) next();
      else this.running.set(name, (this.running.get(name) ?? 1) - 1);
    }
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
  queue?: QueueSource;
}

/** Declarations of `serverless.yml` the bus needs beyond the patterns: schedules and retries. */
function functionSettings(path: string): Map<string, FunctionSettings> {
  // The queues' settings, as the deployment wires them (infra/delivery.cjs, beside serverless.yml).
  const delivery = createRequire(path)('./infra/delivery.cjs') as {
    QUEUE_SOURCE: { batchSize: number; maximumBatchingWindow: number; maximumConcurrency: number };
    VISIBILITY_TIMEOUT_SECONDS: number;
    MAX_RECEIVE_COUNT: number;
    QUEUED_FUNCTIONS: Record<string, string>;
  };
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
    const queue = Object.hasOwn(delivery.QUEUED_FUNCTIONS, name)
      ? {
          batchSize: delivery.QUEUE_SOURCE.batchSize,
          batchingWindowMs: delivery.QUEUE_SOURCE.maximumBatchingWindow * 1000,
          maxConcurrency: delivery.QUEUE_SOURCE.maximumConcurrency,
          visibilityTimeoutMs: delivery.VISIBILITY_TIMEOUT_SECONDS * 1000,
          maxReceiveCount: delivery.MAX_RECEIVE_COUNT,
        }
      : undefined;
    settings.set(name, { everyMs, retries, queue });
  }
  return settings;
}

/** The handler of the function serverless.yml names so, built by the caller: the bus runs handlers, it does not load them. */
export type BuildHandler = (functionName: string) => Invoke;

/** The functions declared in serverless.yml (under `root`), each with the handler `build` gives it. */
export function loadLocalFunctions(build: BuildHandler, root: string = process.cwd()): LocalFunction[] {
  const path = resolve(root, 'serverless.yml');
  const patterns = loadFunctionPatterns(path);
  return [...functionSettings(path)].map(([functionName, { everyMs, retries, queue }]) => {
    const matchers = patterns
      .filter((p) => p.functionName === functionName)
      .map((p) => compilePattern(p.pattern));
    const matches: EventMatcher = (event) => matchers.some((m) => m(event));
    return { functionName, matches, everyMs, retries, queue, invoke: build(functionName) };
  });
}
