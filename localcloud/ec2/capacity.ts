/**
 * EC2's capacity pools: one per instance type × Availability Zone, with Spot and On-Demand
 * capacity counted apart. Each pool holds a number of free instance slots. A launch takes slots;
 * an instance its owner stops or terminates gives its slot back; a Spot interruption does not
 * (EC2 reclaimed that capacity for someone else). RunInstances, StartInstances and CreateFleet
 * all draw from these pools.
 */

export type Market = 'spot' | 'on-demand';

/** Which pools a scenario rule covers; an omitted field matches every AZ, type or market. */
export interface PoolSelector {
  availabilityZone?: string;
  instanceType?: string;
  market?: Market;
}

export interface Pool {
  availabilityZone: string;
  instanceType: string;
  market: Market;
}

/** Free slots a pool starts with unless a scenario says otherwise. */
export const DEFAULT_POOL_CAPACITY = 1_000;

interface Rule extends PoolSelector {
  free: number;
}

const key = (pool: Pool) => `${pool.market}|${pool.instanceType}|${pool.availabilityZone}`;

const covers = (selector: PoolSelector, pool: Pool) =>
  (selector.availabilityZone === undefined || selector.availabilityZone === pool.availabilityZone) &&
  (selector.instanceType === undefined || selector.instanceType === pool.instanceType) &&
  (selector.market === undefined || selector.market === pool.market);

export class CapacityPools {
  /** Free slots of the pools seen so far. */
  private readonly free = new Map<string, { pool: Pool; free: number }>();
  /** Scenario rules, latest last: a pool first seen later starts from the latest rule covering it. */
  private readonly rules: Rule[] = [];

  constructor(private readonly defaultCapacity = DEFAULT_POOL_CAPACITY) {}

  private entry(pool: Pool) {
    const k = key(pool);
    let found = this.free.get(k);
    if (!found) {
      const rule = this.rules.findLast((r) => covers(r, pool));
      found = { pool: { ...pool }, free: rule?.free ?? this.defaultCapacity };
      this.free.set(k, found);
    }
    return found;
  }

  /** Sets the free slots of every pool the selector covers, now and for pools seen later. */
  set(selector: PoolSelector, free: number) {
    if (!Number.isInteger(free) || free < 0) {
      throw new Error(`Capacity must be a whole number of instances, 0 or more; got ${free}.`);
    }
    this.rules.push({ ...selector, free });
    for (const entry of this.free.values()) if (covers(selector, entry.pool)) entry.free = free;
  }

  /** Back to the default capacity for the pools the selector covers. */
  reset(selector: PoolSelector) {
    this.set(selector, this.defaultCapacity);
  }

  available(pool: Pool): number {
    return this.entry(pool).free;
  }

  /** Takes `count` slots; the caller has checked {@link available}. */
  take(pool: Pool, count: number) {
    const entry = this.entry(pool);
    entry.free = Math.max(0, entry.free - count);
  }

  /** Gives a slot back (the owner stopped or terminated the instance). */
  release(pool: Pool) {
    this.entry(pool).free += 1;
  }
}
