import type { FinalizeRequestMiddleware, Pluggable } from '@smithy/types';
import {
  type BucketSpec,
  EC2_ACTIONS,
  EC2_DESCRIBE,
  EC2_MUTATING,
  ELBV2_READ,
  ELBV2_WRITE,
  isReadOnlyAction,
} from './aws-buckets.ts';

/**
 * A container's share of the account's EC2 and ELBv2 request budget: AWS's token buckets
 * (`../shared/AWS-FACTS.md`: EC2's documented ones; ELBv2's documented reads, its unpublished
 * writes modelled conservatively), each scaled by {@link API_BUDGET_SHARE}, kept on this side of
 * the wire. Every attempt of every call (the SDK's retries included) takes a token before it is
 * sent; when its bucket is empty it waits, and waiters go out most urgent first: drain, then
 * launch, then the handover, then describes. Waiting costs no AWS request and loses no work;
 * a request AWS would refuse is not sent, so concurrent containers do not stampede.
 *
 * Installed on the EC2 and ELBv2 clients by `createClients`.
 */

/** What a call is for, most urgent first. */
export type Urgency = 'drain' | 'launch' | 'handover' | 'describe';
const ORDER: Record<Urgency, number> = { drain: 0, launch: 1, handover: 2, describe: 3 };

/**
 * The share of each AWS bucket one container spends when nothing says how many spend it at once:
 * half. A queued function is told its queue's maximum concurrency (HANDOFF_API_BUDGET_CONCURRENCY,
 * infra/api-budget.cjs) and spends 1/that, so its containers together refill no faster than AWS's
 * buckets; when AWS does throttle, the SDK retries with backoff and the work left undone comes
 * back (README "Benchmark").
 */
export const API_BUDGET_SHARE = 0.5;
/**
 * The least burst a container keeps of each bucket (or the whole bucket, if smaller), however small
 * its share: a lone interruption's drain, launch and handover then go out at once. Containers that
 * burst together may exceed AWS's bucket by that much once; the refill is what their shares bound.
 */
export const MIN_BURST = 5;

/** The urgency of an EC2 or ELBv2 action. */
export function urgencyOf(action: string): Urgency {
  if (action === 'DeregisterTargets') return 'drain';
  if (action === 'RunInstances' || action === 'CreateFleet') return 'launch';
  return isReadOnlyAction(action) ? 'describe' : 'handover';
}

/**
 * The bucket a request is charged to, and its size. EC2: one bucket per action, sized by its
 * category (documented). ELBv2: its read-only calls share one bucket (documented), its mutating
 * calls are counted together too (unpublished; the conservative reading), so a drain's
 * DeregisterTargets goes out before a waiting RegisterTargets.
 */
export function bucketOf(service: 'ec2' | 'elbv2', action: string): { key: string; spec: BucketSpec } {
  if (service === 'elbv2') {
    return isReadOnlyAction(action)
      ? { key: 'elbv2:read', spec: ELBV2_READ }
      : { key: 'elbv2:write', spec: ELBV2_WRITE };
  }
  return {
    key: `ec2:${action}`,
    spec: isReadOnlyAction(action) ? EC2_DESCRIBE : (EC2_ACTIONS[action] ?? EC2_MUTATING),
  };
}

interface Waiter {
  urgency: number;
  seq: number;
  grant: () => void;
}

/**
 * A request that could not get its token before the invocation's deadline: it was never sent. Its
 * work is left to come back (a queued record) or to the sweep, like work AWS throttled.
 */
export class ApiBudgetExhaustedError extends Error {
  override name = 'ApiBudgetExhausted';
}

class Bucket {
  private tokens: number;
  private last: number;
  private readonly waiters: Waiter[] = [];
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(
    private readonly spec: BucketSpec,
    private readonly now: () => number,
  ) {
    this.tokens = spec.capacity;
    this.last = now();
  }

  /** Resolves when a token is taken; rejects, leaving the queue, if none is due within `waitMs`. */
  take(urgency: number, seq: number, waitMs = Number.POSITIVE_INFINITY): Promise<void> {
    this.refill();
    if (this.waiters.length === 0 && this.tokens >= 1) {
      this.tokens -= 1;
      return Promise.resolve();
    }
    return new Promise<void>((resolve, reject) => {
      let giveUp: ReturnType<typeof setTimeout> | undefined;
      const waiter: Waiter = {
        urgency,
        seq,
        grant: () => {
          clearTimeout(giveUp);
          resolve();
        },
      };
      if (Number.isFinite(waitMs)) {
        giveUp = setTimeout(
          () => {
            const at = this.waiters.indexOf(waiter);
            if (at >= 0) this.waiters.splice(at, 1);
            reject(
              new ApiBudgetExhaustedError(
                'No API token before the invocation must end: the request was not sent; its work comes back.',
              ),
            );
          },
          Math.max(0, waitMs),
        );
      }
      this.waiters.push(waiter);
      this.waiters.sort((a, b) => a.urgency - b.urgency || a.seq - b.seq);
      this.schedule();
    });
  }

  private refill(): void {
    const now = this.now();
    this.tokens = Math.min(
      this.spec.capacity,
      this.tokens + ((now - this.last) / 1000) * this.spec.refillPerSecond,
    );
    this.last = now;
  }

  private schedule(): void {
    if (this.timer !== undefined || this.waiters.length === 0) return;
    const wait = Math.max(1, ((1 - this.tokens) / this.spec.refillPerSecond) * 1000);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.refill();
      while (this.tokens >= 1 && this.waiters.length > 0) {
        this.tokens -= 1;
        this.waiters.shift()!.grant();
      }
      this.schedule();
    }, wait);
  }
}

export interface ApiBudgetOptions {
  /** Share of each AWS bucket this budget spends (0 < share ≤ 1); default {@link API_BUDGET_SHARE}. */
  share?: number;
  /** Milliseconds, monotonic; default `performance.now`. */
  now?: () => number;
}

/**
 * One container's budget over EC2's and ELBv2's buckets.
 * @example
 * const budget = new ApiBudget();
 * await budget.take('elbv2', 'DeregisterTargets'); // at once, or as soon as a token is due
 */
export class ApiBudget {
  private readonly buckets = new Map<string, Bucket>();
  private readonly share: number;
  private readonly now: () => number;
  private seq = 0;
  /** When waiting must end (in `now()`'s time): the current invocation's deadline, if any. */
  private deadline: number | undefined;

  constructor(options: ApiBudgetOptions = {}) {
    const share = options.share ?? API_BUDGET_SHARE;
    if (!(share > 0 && share <= 1)) throw new RangeError(`API budget share must be in (0, 1], got ${share}`);
    this.share = share;
    this.now = options.now ?? (() => performance.now());
  }

  /**
   * Waits for tokens end `ms` from now (undefined: never): set per invocation, a little before its
   * timeout, so that what cannot be sent in time is left to come back instead of timing out.
   */
  endWaitsIn(ms: number | undefined): void {
    this.deadline = ms === undefined ? undefined : this.now() + ms;
  }

  /** Resolves when a request of `action` may be sent; rejects with {@link ApiBudgetExhaustedError} past the deadline. */
  take(service: 'ec2' | 'elbv2', action: string): Promise<void> {
    const { key, spec } = bucketOf(service, action);
    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = new Bucket(
        {
          capacity: Math.max(Math.min(spec.capacity, MIN_BURST), Math.floor(spec.capacity * this.share)),
          refillPerSecond: spec.refillPerSecond * this.share,
        },
        this.now,
      );
      this.buckets.set(key, bucket);
    }
    const waitMs = this.deadline === undefined ? undefined : this.deadline - this.now();
    return bucket.take(ORDER[urgencyOf(action)], this.seq++, waitMs);
  }

  /**
   * SDK middleware that takes a token before each attempt is sent (after the retry middleware, so
   * every retry pays too).
   */
  middleware<Input extends object, Output extends object>(
    service: 'ec2' | 'elbv2',
  ): Pluggable<Input, Output> {
    const takeToken: FinalizeRequestMiddleware<Input, Output> = (next, context) => async (args) => {
      await this.take(service, (context.commandName ?? '').replace(/Command$/, ''));
      return next(args);
    };
    return {
      applyToStack: (stack) => {
        stack.addRelativeTo(takeToken, {
          relation: 'after',
          toMiddleware: 'retryMiddleware',
          name: 'apiBudgetMiddleware',
        });
      },
    };
  }
}
