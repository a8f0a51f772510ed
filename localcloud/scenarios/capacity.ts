import {
  type _InstanceType,
  DescribeSubnetsCommand,
  type EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { LocalCloud } from '../index.ts';
import { createWebFleet, launchPatiently, type WebFleet } from './web-fleet.ts';

/**
 * The capacity scenario: a group whose whole pool is reclaimed. Group `web` runs 24 Spot
 * m5.large in the first AZ (the pool EC2 will take back) and 6 more elsewhere; its policy allows
 * three instance types in every AZ; the account holds a Reserved Instance no instance uses; every
 * other allowed Spot pool has little room, so the replacements use it up and the rest fall back
 * to On-Demand; later Spot capacity returns. Built through the real APIs as a user's
 * infrastructure code would, capacity set through the local cloud's scenario controls.
 */

export const CAPACITY_GROUP = 'web';
export const GROUP_TAG_KEY = 'spot-handoff:group';
/** The types the group's policy allows; the first is what the group runs. */
export const ALLOWED_TYPES = ['m5.large', 'm6i.large', 'm5a.large'] as const;
/** Instances in the pool that is reclaimed. */
export const RECLAIMED_COUNT = 24;
/** Free Spot slots left in each allowed pool other than the reclaimed one. */
export const SPOT_ROOM_PER_POOL = 2;

export interface PoolName {
  instanceType: string;
  availabilityZone: string;
}

export interface CapacityScenario {
  fleet: WebFleet;
  /** The pool EC2 reclaims: m5.large in the first AZ. */
  reclaimedPool: PoolName;
  /** The instances in it, all warned at once. */
  reclaimed: string[];
  /** The group's instances in other pools (left alone). */
  others: string[];
  /** Every pool the policy allows (types × AZs of the group's subnets). */
  allowedPools: PoolName[];
  subnets: { subnetId: string; availabilityZone: string }[];
  reservation: { reservedInstancesId: string } & PoolName;
}

/**
 * The group's policy: three types in every subnet of the VPC (the default), RIs first, On-Demand
 * fallback, revert to Spot whenever it has capacity again.
 */
export const CAPACITY_POLICY = {
  groups: {
    [CAPACITY_GROUP]: {
      instanceTypes: ALLOWED_TYPES.map((type) => ({ type })),
      spotAllocationStrategy: 'price-capacity-optimized',
      reservedFirst: true,
      onDemandFallback: true,
      revertToSpot: 'always',
      poolReclaim: { threshold: 3, windowMinutes: 10, avoidMinutes: 30, replaceAhead: false },
      // EC2 has no price API: the On-Demand prices the records compare with (us-east-1 Linux list).
      onDemandPrices: { 'm5.large': 0.096, 'm6i.large': 0.096, 'm5a.large': 0.086 },
    },
  },
} as const;

/**
 * Launches the group (not yet running: the caller lets the cloud's time pass, then registers
 * `fleet.instanceIds` with `registerFleet`), gives the account an unused RI and leaves each allowed Spot pool
 * other than the reclaimed one {@link SPOT_ROOM_PER_POOL} free slots.
 */
export async function createCapacityFleet(
  cloud: LocalCloud,
  clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client },
  options: { managedTagKey?: string } = {},
): Promise<CapacityScenario> {
  const fleet = await createWebFleet(clients, { size: 0, managedTagKey: options.managedTagKey });
  const subnets = ((await clients.ec2.send(new DescribeSubnetsCommand({}))).Subnets ?? [])
    .map((s) => ({ subnetId: s.SubnetId!, availabilityZone: s.AvailabilityZone! }))
    .sort((a, b) => a.availabilityZone.localeCompare(b.availabilityZone));
  const [first, second, third] = subnets;
  if (!first || !second || !third) throw new Error('The capacity scenario needs three AZs.');
  const tags = {
    app: 'web',
    [options.managedTagKey ?? 'spot-handoff:managed']: 'true',
    [GROUP_TAG_KEY]: CAPACITY_GROUP,
  };
  const launch = async (count: number, subnetId: string, instanceType: string) => {
    const launched = await launchPatiently(
      clients.ec2,
      new RunInstancesCommand({
        MinCount: count,
        MaxCount: count,
        LaunchTemplate: { LaunchTemplateId: fleet.launchTemplateId, Version: '$Latest' },
        InstanceType: instanceType as _InstanceType,
        SubnetId: subnetId,
        TagSpecifications: [
          { ResourceType: 'instance', Tags: Object.entries(tags).map(([Key, Value]) => ({ Key, Value })) },
        ],
      }),
    );
    return (launched.Instances ?? []).map((i) => i.InstanceId!);
  };
  const reclaimedPool = { instanceType: ALLOWED_TYPES[0], availabilityZone: first.availabilityZone };
  const reclaimed = await launch(RECLAIMED_COUNT, first.subnetId, reclaimedPool.instanceType);
  const others = [
    ...(await launch(3, second.subnetId, 'm5.large')),
    ...(await launch(3, third.subnetId, 'm6i.large')),
  ];
  fleet.instanceIds = [...reclaimed, ...others];

  const allowedPools = ALLOWED_TYPES.flatMap((instanceType) =>
    subnets.map((s) => ({ instanceType, availabilityZone: s.availabilityZone })),
  );
  for (const pool of allowedPools) {
    if (samePool(pool, reclaimedPool)) continue;
    cloud.setCapacity({ ...pool, market: 'spot' }, SPOT_ROOM_PER_POOL);
  }
  const reserved = { instanceType: 'm6i.large', availabilityZone: third.availabilityZone };
  const reservedInstancesId = cloud.addReservedInstances({ ...reserved, instanceCount: 1 });
  return {
    fleet,
    reclaimedPool,
    reclaimed,
    others,
    allowedPools,
    subnets,
    reservation: { reservedInstancesId, ...reserved },
  };
}

/** EC2 reclaims the pool: every instance in it is warned at once, and the pool has no Spot room left. */
export function reclaimPool(cloud: LocalCloud, scenario: CapacityScenario): void {
  cloud.setCapacity({ ...scenario.reclaimedPool, market: 'spot' }, false);
  for (const instanceId of scenario.reclaimed) cloud.interrupt(instanceId);
}

/** Spot capacity returns to every pool. */
export function spotReturns(cloud: LocalCloud): void {
  cloud.setCapacity({ market: 'spot' }, true);
}

/** Free Spot slots of each allowed pool other than the reclaimed one. */
export function spotRoom(cloud: LocalCloud, scenario: CapacityScenario): { pool: PoolName; free: number }[] {
  return scenario.allowedPools
    .filter((pool) => !samePool(pool, scenario.reclaimedPool))
    .map((pool) => ({ pool, free: cloud.capacityOf({ ...pool, market: 'spot' }) }));
}

export const samePool = (a: PoolName | undefined, b: PoolName | undefined): boolean =>
  a !== undefined &&
  b !== undefined &&
  a.instanceType === b.instanceType &&
  a.availabilityZone === b.availabilityZone;
