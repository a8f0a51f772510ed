import type { FleetInstance, FleetOverride, PoolFacts, UnusedReservation } from './facts.ts';
import type { GroupPolicy } from './policy.ts';
import { type PoolKey, poolKey } from './ports.ts';
import type { CapacityType } from './workflow.ts';

/**
 * Where a group's replacements go: pure decisions over what EC2 and the pool memory say. The
 * order is unused Reserved Instances matching an allowed pool, then Spot pools ranked (never the
 * pool being reclaimed, nor one the pool memory avoids), then On-Demand.
 */

/** What the choice knows about the pools a group may use. */
export interface CapacityView {
  /** Allowed pools: the policy's instance types × its subnets (default: the old instances' VPC subnets). */
  pools: PoolFacts[];
  /** The pools being reclaimed (the old instances' type × AZ): never chosen. */
  reclaimed: readonly { instanceType: string; availabilityZone: string }[];
  reservations: readonly UnusedReservation[];
  spotPrices: ReadonlyMap<PoolKey, number>;
  placementScores: ReadonlyMap<PoolKey, number>;
  /** Interruptions per pool within the policy's pool-reclaim window. */
  interruptions: ReadonlyMap<PoolKey, number>;
  /** The pools the pool memory avoids (the threshold was crossed within `avoidMinutes`): never chosen. */
  avoided: ReadonlyMap<PoolKey, { crossedAt: string; until: string }>;
  onDemandPrices: Readonly<Record<string, number>>;
}

export interface RankedPool extends PoolFacts {
  spotPrice?: number;
  onDemandPrice?: number;
  placementScore?: number;
  interruptions: number;
}

export interface ReservedPool extends RankedPool {
  reservedInstancesId: string;
  unused: number;
}

export interface CapacityChoice {
  /** Pools an unused RI covers, with how many it still covers. */
  reserved: ReservedPool[];
  /** Spot pools, best first. */
  spot: RankedPool[];
  /** On-Demand pools, cheapest first (the reclaimed pools excluded too: EC2 is short there). */
  onDemand: RankedPool[];
  /** Pools left out, and why; an avoided one with the end of its avoidance. */
  excluded: { pool: PoolFacts; why: string; avoidedUntil?: string }[];
}

const ranked = (pool: PoolFacts, view: CapacityView): RankedPool => {
  const key = poolKey(pool);
  return {
    ...pool,
    spotPrice: view.spotPrices.get(key),
    onDemandPrice: view.onDemandPrices[pool.instanceType],
    placementScore: view.placementScores.get(key),
    interruptions: view.interruptions.get(key) ?? 0,
  };
};

const ascending = (a: number | undefined, b: number | undefined) =>
  (a ?? Number.POSITIVE_INFINITY) - (b ?? Number.POSITIVE_INFINITY);

/** Ranks the allowed pools of one group. */
export function chooseCapacity(policy: GroupPolicy, view: CapacityView): CapacityChoice {
  const reclaimed = new Set(view.reclaimed.map(poolKey));
  const excluded: CapacityChoice['excluded'] = [];
  const usable: RankedPool[] = [];
  for (const pool of view.pools) {
    const r = ranked(pool, view);
    const avoided = view.avoided.get(poolKey(pool));
    if (reclaimed.has(poolKey(pool))) excluded.push({ pool, why: 'being reclaimed' });
    else if (avoided) {
      const { threshold, windowMinutes } = policy.poolReclaim;
      excluded.push({
        pool,
        why: `avoided until ${avoided.until}: ${threshold} interruptions within ${windowMinutes} min by ${avoided.crossedAt}`,
        avoidedUntil: avoided.until,
      });
    } else usable.push(r);
  }
  const reserved: ReservedPool[] = [];
  if (policy.reservedFirst) {
    for (const ri of view.reservations) {
      if (ri.unused < 1) continue;
      const pool = usable.find(
        (p) =>
          p.instanceType === ri.instanceType &&
          (ri.availabilityZone === undefined || ri.availabilityZone === p.availabilityZone) &&
          !reserved.some((taken) => poolKey(taken) === poolKey(p)),
      );
      if (pool) reserved.push({ ...pool, reservedInstancesId: ri.reservedInstancesId, unused: ri.unused });
    }
  }
  const spot = [...usable].sort(spotOrder(policy.spotAllocationStrategy));
  const onDemand = [...usable].sort((a, b) => ascending(a.onDemandPrice, b.onDemandPrice));
  return { reserved, spot, onDemand, excluded };
}

/**
 * Recently interrupted pools last; then, by strategy: the placement score (capacity), then the
 * price. An unknown score counts as middling (5), an unknown price as the dearest.
 */
function spotOrder(strategy: GroupPolicy['spotAllocationStrategy']) {
  const score = (p: RankedPool) => p.placementScore ?? 5;
  return (a: RankedPool, b: RankedPool): number => {
    const memory =
      Math.sign(a.interruptions) - Math.sign(b.interruptions) || a.interruptions - b.interruptions;
    if (memory) return memory;
    if (strategy === 'lowest-price') return ascending(a.spotPrice, b.spotPrice);
    return score(b) - score(a) || ascending(a.spotPrice, b.spotPrice);
  };
}

/** The overrides of a fleet request over `pools`, with their order as On-Demand priorities. */
export const overridesOf = (pools: readonly PoolFacts[]): FleetOverride[] =>
  pools.map((p, priority) => ({
    instanceType: p.instanceType,
    availabilityZone: p.availabilityZone,
    subnetId: p.subnetId,
    priority,
  }));

/**
 * The order instances of a fleet are handed to its members (sorted workflow ids): On-Demand
 * before Spot, then by instance id. A retry that finds the instances by their tag hands them out
 * the same way, so each member always gets the same one.
 */
export function assignmentOrder<T extends { instanceId: string; lifecycle?: string }>(
  instances: readonly T[],
): T[] {
  const rank = (i: T) => (i.lifecycle === 'spot' ? 1 : 0);
  return [...instances].sort(
    (a, b) => rank(a) - rank(b) || (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0),
  );
}

/** What a member's record says about the instance it got. */
export interface CapacityRecord {
  capacityType: CapacityType;
  choiceReason: string;
  hourlyPrice?: number;
  onDemandPrice?: number;
  /** The pools the choice avoided after a cluster of interruptions, and until when. */
  avoidedPools?: { instanceType: string; availabilityZone: string; until: string }[];
}

/** Which request of the batch launched an instance: the first (RI + Spot), the Spot retry, or the On-Demand fallback. */
export type FleetStage = 'first' | 'spot-retry' | 'on-demand-fallback';

/**
 * The record of each instance a group's fleet requests launched: an On-Demand instance in a pool an
 * unused RI covers is `reserved` (as many as the RI still covers), in words why each was chosen.
 */
export function describeLaunches(
  launched: readonly (FleetInstance & { stage: FleetStage })[],
  choice: CapacityChoice,
  failedSpotPools: number,
): Map<string, CapacityRecord> {
  const coverage = new Map(choice.reserved.map((r) => [poolKey(r), { ...r, left: r.unused }]));
  const info = new Map([...choice.spot, ...choice.onDemand].map((p) => [poolKey(p), p]));
  const records = new Map<string, CapacityRecord>();
  for (const instance of assignmentOrder(launched)) {
    const key = poolKey(instance);
    const pool = info.get(key);
    const onDemandPrice = pool?.onDemandPrice;
    const where = `${instance.instanceType} in ${instance.availabilityZone}`;
    const ri = coverage.get(key);
    if (instance.lifecycle === 'on-demand' && instance.stage === 'first' && ri && ri.left > 0) {
      ri.left -= 1;
      records.set(instance.instanceId, {
        capacityType: 'reserved',
        choiceReason: `unused RI ${ri.reservedInstancesId} covers ${where}`,
        hourlyPrice: 0,
        onDemandPrice,
      });
    } else if (instance.lifecycle === 'on-demand') {
      records.set(instance.instanceId, {
        capacityType: 'on-demand',
        choiceReason: `${failedSpotPools} Spot pools had no capacity; On-Demand fallback (${where})`,
        hourlyPrice: onDemandPrice,
        onDemandPrice,
      });
    } else {
      const score =
        pool?.placementScore === undefined
          ? 'placement score unknown'
          : `placement score ${pool.placementScore}`;
      const price = pool?.spotPrice === undefined ? 'price unknown' : `$${pool.spotPrice}/h`;
      const retry =
        instance.stage === 'spot-retry' ? `, after ${failedSpotPools} Spot pools had no capacity` : '';
      records.set(instance.instanceId, {
        capacityType: 'spot',
        choiceReason: `Spot ${where}: ${score}, ${pool?.interruptions ?? 0} recent interruptions, ${price}${retry}`,
        hourlyPrice: pool?.spotPrice,
        onDemandPrice,
      });
    }
  }
  const avoidedPools = [
    ...new Map(
      choice.excluded.flatMap(({ pool, avoidedUntil }) =>
        avoidedUntil === undefined
          ? []
          : [
              [
                poolKey(pool),
                {
                  instanceType: pool.instanceType,
                  availabilityZone: pool.availabilityZone,
                  until: avoidedUntil,
                },
              ] as const,
            ],
      ),
    ).values(),
  ];
  if (avoidedPools.length > 0) for (const record of records.values()) record.avoidedPools = avoidedPools;
  return records;
}
