import { randomUUID } from 'node:crypto';
import type { Tags } from './model.ts';

/**
 * Reserved Instances a scenario gives the account. EC2 applies an RI to matching running
 * On-Demand instances by itself; the local cloud only lists them, as DescribeReservedInstances
 * does, and the handoff works out which are unused.
 */

export type ReservedInstancesState =
  | 'payment-pending'
  | 'active'
  | 'payment-failed'
  | 'retired'
  | 'queued'
  | 'queued-deleted';

export interface ReservedInstances {
  reservedInstancesId: string;
  instanceType: string;
  /** Zonal RIs reserve capacity in one AZ; Regional ones (`scope: 'Region'`) have none. */
  availabilityZone?: string;
  scope: 'Availability Zone' | 'Region';
  instanceCount: number;
  start: Date;
  /** Seconds (a year is 31536000). */
  duration: number;
  state: ReservedInstancesState;
  offeringClass: 'standard' | 'convertible';
  offeringType: 'No Upfront' | 'Partial Upfront' | 'All Upfront';
  productDescription: string;
  fixedPrice: number;
  /** USD per hour charged whether or not an instance uses the reservation. */
  hourlyCharge: number;
  tags: Tags;
}

/** What a scenario says about an RI; the rest has defaults (a one-year standard No Upfront RI). */
export interface ReservedInstancesSpec {
  instanceType: string;
  /** A zonal RI in this AZ; without it the RI is Regional. */
  availabilityZone?: string;
  instanceCount?: number;
  state?: ReservedInstancesState;
  offeringClass?: ReservedInstances['offeringClass'];
  offeringType?: ReservedInstances['offeringType'];
  productDescription?: string;
  /** Default: now. */
  start?: Date;
  /** Seconds; default one year. */
  duration?: number;
  fixedPrice?: number;
  /** Default: 60% of the On-Demand price. */
  hourlyCharge?: number;
  tags?: Record<string, string>;
}

export const ONE_YEAR_SECONDS = 31_536_000;

export function createReservedInstances(
  spec: ReservedInstancesSpec,
  now: Date,
  onDemandPrice: number,
): ReservedInstances {
  const instanceCount = spec.instanceCount ?? 1;
  if (!Number.isInteger(instanceCount) || instanceCount < 1) {
    throw new Error(`A Reserved Instance covers 1 or more instances; got instanceCount ${instanceCount}.`);
  }
  return {
    reservedInstancesId: randomUUID(),
    instanceType: spec.instanceType,
    availabilityZone: spec.availabilityZone,
    scope: spec.availabilityZone ? 'Availability Zone' : 'Region',
    instanceCount,
    start: spec.start ?? now,
    duration: spec.duration ?? ONE_YEAR_SECONDS,
    state: spec.state ?? 'active',
    offeringClass: spec.offeringClass ?? 'standard',
    offeringType: spec.offeringType ?? 'No Upfront',
    productDescription: spec.productDescription ?? 'Linux/UNIX',
    fixedPrice: spec.fixedPrice ?? 0,
    hourlyCharge: spec.hourlyCharge ?? Number((onDemandPrice * 0.6).toFixed(4)),
    tags: new Map(Object.entries(spec.tags ?? {})),
  };
}

/** The end of the term. */
export const endOf = (ri: ReservedInstances) => new Date(ri.start.getTime() + ri.duration * 1000);

/** An active RI whose term has ended is `retired`. */
export function stateAt(ri: ReservedInstances, now: Date): ReservedInstancesState {
  return ri.state === 'active' && now >= endOf(ri) ? 'retired' : ri.state;
}
