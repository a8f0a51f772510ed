import { describe, expect, it } from 'vitest';
import { MergeWindow, mapConcurrently, throwTogether } from '../../src/core/concurrency.ts';

/** Work that fails for items 3, 8, 13, … and records which items it started. */
function failingWork() {
  const started: number[] = [];
  const work = async (item: number) => {
    started.push(item);
    await Promise.resolve();
    if (item % 5 === 3) throw new Error(`item ${item} failed`);
    return item * 2;
  };
  return { work, started };
}

describe('mapConcurrently', () => {
  it('keeps the order of the items and never runs more than the limit at once', async () => {
    let inFlight = 0;
    let peak = 0;
    const results = await mapConcurrently([1, 2, 4, 5, 6, 7], 2, async (n) => {
      inFlight += 1;
      peak = Math.max(peak, inFlight);
      await Promise.resolve();
      inFlight -= 1;
      return n * 10;
    });
    expect(results).toEqual([10, 20, 40, 50, 60, 70]);
    expect(peak).toBe(2);
  });

  it.each([
    ['stop', 1],
    ['finish', 10],
  ] as const)('after a failure, %s: %i items started of 10', async (afterFailure, startedCount) => {
    const { work, started } = failingWork();
    const items = [3, 0, 1, 2, 4, 6, 7, 9, 10, 11];
    await expect(mapConcurrently(items, 1, work, { afterFailure })).rejects.toThrow('item 3 failed');
    expect(started).toHaveLength(startedCount);
  });

  it('reports every failure of the items it ran, none dropped', async () => {
    const { work } = failingWork();
    const failure = await mapConcurrently([3, 8, 13, 1], 4, work, { afterFailure: 'finish' }).catch(
      (error: unknown) => error,
    );
    expect(failure).toBeInstanceOf(AggregateError);
    expect((failure as AggregateError).errors.map((e: Error) => e.message)).toEqual([
      'item 3 failed',
      'item 8 failed',
      'item 13 failed',
    ]);
    expect((failure as Error).message).toBe(
      '3 calls failed: Error: item 3 failed; Error: item 8 failed; Error: item 13 failed',
    );
  });

  it('refuses a limit that would run nothing', async () => {
    await expect(mapConcurrently([1], 0, async (n) => n)).rejects.toBeInstanceOf(RangeError);
  });
});

describe('throwTogether', () => {
  it.each([
    ['no failure', [], undefined],
    ['one failure, as itself', [new TypeError('bad')], TypeError],
    ['several, together', [new Error('a'), new Error('b')], AggregateError],
  ] as const)('%s', (_what, failures, thrown) => {
    const act = () => throwTogether(failures, 'workflows');
    if (thrown) expect(act).toThrow(thrown);
    else expect(act).not.toThrow();
  });
});

describe('MergeWindow', () => {
  it('sends what is added together as one request; each adder gets the result and how many shared it', async () => {
    const sent: string[][] = [];
    const window = new MergeWindow(async (items: string[]) => {
      sent.push(items);
      return items.length;
    }, 10);

    const results = await Promise.all([window.add(['a']), window.add(['b', 'c']), window.add(['d'])]);
    const later = await window.add(['e']);

    expect(sent).toEqual([['a', 'b', 'c', 'd'], ['e']]);
    expect(results).toEqual([
      { result: 4, sharedBy: 3 },
      { result: 4, sharedBy: 3 },
      { result: 4, sharedBy: 3 },
    ]);
    expect(later).toEqual({ result: 1, sharedBy: 1 });
  });

  it('fails every adder of a failed request, and the next window sends afresh', async () => {
    let fail = true;
    const window = new MergeWindow(async (items: string[]) => {
      if (fail) throw new Error(`refused ${items.join(',')}`);
      return items.join(',');
    }, 10);

    const failed = await Promise.allSettled([window.add(['a']), window.add(['b'])]);
    fail = false;
    const after = await window.add(['c']);

    expect(failed.map((f) => (f.status === 'rejected' ? String(f.reason) : f.status))).toEqual([
      'Error: refused a,b',
      'Error: refused a,b',
    ]);
    expect(after).toEqual({ result: 'c', sharedBy: 1 });
  });
});
