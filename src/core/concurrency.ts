/** The one worker pool, and how several failures of one invocation are reported together. */

export interface PoolOptions {
  /**
   * What a failure does to the items not started yet: `stop` starts none (one failing call fails
   * the whole, as for an adapter's calls); `finish` runs them all (one workflow's failure does not
   * keep the others of a batch from progressing). Default `stop`.
   */
  afterFailure?: 'stop' | 'finish';
}

/**
 * Maps `items` with at most `limit` calls of `work` in flight; results keep the order of `items`.
 * The calls in flight always run to their end; then every failure is thrown (see {@link throwTogether}).
 * @example await mapConcurrently(groups, 8, (group) => describe(group)) // 8 calls at most at once
 */
export async function mapConcurrently<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
  { afterFailure = 'stop' }: PoolOptions = {},
): Promise<R[]> {
  if (!Number.isInteger(limit) || limit <= 0)
    throw new RangeError(`concurrency limit must be a positive integer, got ${limit}`);
  const results = new Array<R>(items.length);
  const failures: unknown[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length && (afterFailure === 'finish' || failures.length === 0)) {
      const index = next++;
      try {
        results[index] = await work(items[index] as T, index);
      } catch (error) {
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  throwTogether(failures, 'calls');
  return results;
}

/**
 * Throws every failure, none dropped: one as itself (its type says what failed), several as one
 * `AggregateError` whose message names each and whose `errors` hold them all.
 */
export function throwTogether(failures: readonly unknown[], what: string): void {
  if (failures.length === 0) return;
  if (failures.length === 1) throw failures[0];
  throw new AggregateError(
    failures,
    `${failures.length} ${what} failed: ${failures.map(describeFailure).join('; ')}`,
  );
}

const describeFailure = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);

/**
 * Requests added within `windowMs` of the first go out as one `send` of all their items; each adder
 * gets the one result and how many adders shared it. A failed send fails every adder (they asked
 * for the same call). Items added once the window has closed start the next window.
 * @example
 * const deregistrations = new MergeWindow((targets) => elb.deregister(targets), 50);
 * const { result, sharedBy } = await deregistrations.add(myTargets);
 */
export class MergeWindow<Item, Result> {
  private pending: { items: Item[]; adders: number; done: Promise<Result> } | undefined;

  constructor(
    private readonly send: (items: Item[]) => Promise<Result>,
    private readonly windowMs: number,
  ) {}

  async add(items: readonly Item[]): Promise<{ result: Result; sharedBy: number }> {
    if (!this.pending) {
      const window = { items: [] as Item[], adders: 0, done: undefined as unknown as Promise<Result> };
      window.done = new Promise<void>((resolve) => setTimeout(resolve, this.windowMs)).then(() => {
        if (this.pending === window) this.pending = undefined;
        return this.send(window.items);
      });
      this.pending = window;
    }
    const window = this.pending;
    window.items.push(...items);
    window.adders += 1;
    const result = await window.done;
    return { result, sharedBy: window.adders };
  }
}
