import { sizeFactor } from './instance-types.ts';

/**
 * Prices the local EC2 charges: On-Demand per instance type, Spot per pool (type × AZ) with the
 * history DescribeSpotPriceHistory reads. Defaults are close to us-east-1 Linux list prices for
 * common types and an estimate from the family and size for the rest; a scenario sets its own.
 */

/** USD per hour, Linux, On-Demand (us-east-1 list prices, rounded). */
const ON_DEMAND: Record<string, number> = {
  'm1.small': 0.044,
  't3.nano': 0.0052,
  't3.micro': 0.0104,
  't3.small': 0.0208,
  't3.medium': 0.0416,
  't3.large': 0.0832,
  't3.xlarge': 0.1664,
  'm5.large': 0.096,
  'm5.xlarge': 0.192,
  'm5.2xlarge': 0.384,
  'm5a.large': 0.086,
  'm5a.xlarge': 0.172,
  'm6a.large': 0.0864,
  'm6a.xlarge': 0.1728,
  'm6i.large': 0.096,
  'm6i.xlarge': 0.192,
  'm6i.2xlarge': 0.384,
  'm7i.large': 0.1008,
  'm7i.xlarge': 0.2016,
  'm6g.large': 0.077,
  'm6g.xlarge': 0.154,
  'm7g.large': 0.0816,
  'm7g.xlarge': 0.1632,
  'c5.large': 0.085,
  'c5.xlarge': 0.17,
  'c5.2xlarge': 0.34,
  'c5a.large': 0.077,
  'c6a.large': 0.0765,
  'c6a.xlarge': 0.153,
  'c6i.large': 0.085,
  'c6i.xlarge': 0.17,
  'c7i.large': 0.08925,
  'c6g.large': 0.068,
  'c6g.xlarge': 0.136,
  'c7g.large': 0.0725,
  'c7g.xlarge': 0.145,
  'r5.large': 0.126,
  'r5.xlarge': 0.252,
  'r6i.large': 0.126,
  'r6i.xlarge': 0.252,
  'r7i.large': 0.1323,
  'r6g.large': 0.1008,
  'r6g.xlarge': 0.2016,
  't4g.large': 0.0672,
};

/** What a `large` of a family class costs when the table has no entry. */
const LARGE_BY_CLASS: Record<string, number> = { t: 0.0832, m: 0.096, c: 0.085, r: 0.126 };

export function defaultOnDemandPrice(instanceType: string): number {
  const listed = ON_DEMAND[instanceType];
  if (listed !== undefined) return listed;
  const [family = '', size = 'large'] = instanceType.split('.');
  const perLarge = LARGE_BY_CLASS[family.charAt(0)] ?? 0.1;
  return Number((perLarge * sizeFactor(size)).toFixed(4));
}

/** A stable small number per string, so default Spot prices differ by pool but never change. */
function spread(text: string): number {
  let hash = 0;
  for (const c of text) hash = (hash * 31 + c.charCodeAt(0)) >>> 0;
  return hash % 4;
}

/** Spot sells at 30–42% of On-Demand by default, a little differently in each pool. */
export function defaultSpotPrice(instanceType: string, availabilityZone: string): number {
  const discount = 0.3 + 0.04 * spread(`${instanceType}@${availabilityZone}`);
  return Number((defaultOnDemandPrice(instanceType) * discount).toFixed(6));
}

/** Product descriptions the Spot price history lists (both Linux variants, as EC2 does). */
export const SPOT_PRODUCTS = ['Linux/UNIX', 'Linux/UNIX (Amazon VPC)'];

export interface SpotPriceChange {
  instanceType: string;
  availabilityZone: string;
  price: number;
  timestamp: Date;
}

/** Formats a price the way EC2 does (`0.031200`). */
export const formatPrice = (price: number) => price.toFixed(6);

export class PriceBook {
  private readonly onDemand = new Map<string, number>();
  /** pool → changes, oldest first; a pool never set has one entry: its default since `since`. */
  private readonly spotHistory = new Map<string, SpotPriceChange[]>();

  constructor(private readonly since: Date) {}

  onDemandPrice(instanceType: string): number {
    return this.onDemand.get(instanceType) ?? defaultOnDemandPrice(instanceType);
  }

  setOnDemandPrice(instanceType: string, price: number) {
    assertPrice(price);
    this.onDemand.set(instanceType, price);
  }

  private history(instanceType: string, availabilityZone: string): SpotPriceChange[] {
    const k = `${instanceType}|${availabilityZone}`;
    let changes = this.spotHistory.get(k);
    if (!changes) {
      changes = [
        {
          instanceType,
          availabilityZone,
          price: defaultSpotPrice(instanceType, availabilityZone),
          timestamp: this.since,
        },
      ];
      this.spotHistory.set(k, changes);
    }
    return changes;
  }

  spotPrice(instanceType: string, availabilityZone: string): number {
    return this.history(instanceType, availabilityZone).at(-1)!.price;
  }

  setSpotPrice(instanceType: string, availabilityZone: string, price: number, at: Date) {
    assertPrice(price);
    this.history(instanceType, availabilityZone).push({
      instanceType,
      availabilityZone,
      price,
      timestamp: at,
    });
  }

  /** Instance types with a known price: the table and every type priced or asked about since. */
  knownTypes(): string[] {
    const types = new Set([...Object.keys(ON_DEMAND), ...this.onDemand.keys()]);
    for (const changes of this.spotHistory.values()) types.add(changes[0]!.instanceType);
    return [...types].sort();
  }

  /**
   * The pool's price in effect at `start` and its changes up to `end`, newest first, as
   * DescribeSpotPriceHistory lists them (EC2 adds the last change before the window).
   */
  spotChanges(instanceType: string, availabilityZone: string, start?: Date, end?: Date): SpotPriceChange[] {
    const changes = this.history(instanceType, availabilityZone);
    const inEffect = start ? changes.filter((c) => c.timestamp <= start).at(-1) : undefined;
    const inWindow = changes.filter(
      (c) =>
        c !== inEffect &&
        (start === undefined || c.timestamp > start) &&
        (end === undefined || c.timestamp <= end),
    );
    return [...(inEffect ? [inEffect] : []), ...inWindow].reverse();
  }
}

function assertPrice(price: number) {
  if (!Number.isFinite(price) || price <= 0) {
    throw new Error(`A price must be a positive number of USD per hour; got ${price}.`);
  }
}
