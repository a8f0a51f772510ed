import { AwsError } from '../../contracts.ts';
import type { Params } from '../../query.ts';
import { invalidParameterValue, missingParameter } from '../errors.ts';
import { formatPrice, SPOT_PRODUCTS } from '../pricing.ts';
import { applyFilters, pageOf } from '../query.ts';
import { tagSet, zoneId } from '../render.ts';
import { endOf, type ReservedInstances, stateAt } from '../reserved.ts';
import type { Ec2State } from '../state.ts';
import type { Action } from './context.ts';

/**
 * What the market looks like to the account: Spot prices per pool, where Spot capacity is
 * (placement scores) and the Reserved Instances it holds.
 */

function date(params: Params, name: string): Date | undefined {
  const value = params.get(name);
  if (value === undefined) return undefined;
  const parsed = new Date(value);
  if (Number.isNaN(parsed.getTime())) throw invalidParameterValue(`Invalid value '${value}' for ${name}`);
  return parsed;
}

/** Scores 1–10 from how many times over the pools can hold the target; AWS documents that fewer than 3 types score low. */
function placementScore(free: number, target: number, instanceTypes: number): number {
  const score = Math.round(1 + 9 * Math.min(1, free / target / 2));
  return instanceTypes < 3 ? Math.min(score, 3) : score;
}

function renderReservedInstances(ri: ReservedInstances, state: Ec2State) {
  return {
    reservedInstancesId: ri.reservedInstancesId,
    instanceType: ri.instanceType,
    availabilityZone: ri.availabilityZone,
    availabilityZoneId: ri.availabilityZone && zoneId(state.region, ri.availabilityZone),
    start: ri.start,
    end: endOf(ri),
    duration: ri.duration,
    usagePrice: 0,
    fixedPrice: ri.fixedPrice,
    instanceCount: ri.instanceCount,
    productDescription: ri.productDescription,
    state: stateAt(ri, state.now()),
    tagSet: tagSet(ri.tags),
    instanceTenancy: 'default',
    currencyCode: 'USD',
    offeringType: ri.offeringType,
    recurringCharges: [{ frequency: 'Hourly', amount: ri.hourlyCharge }],
    offeringClass: ri.offeringClass,
    scope: ri.scope,
  };
}

export const marketActions: Record<string, Action> = {
  DescribeSpotPriceHistory({ params, state }) {
    const start = date(params, 'StartTime');
    const end = date(params, 'EndTime');
    if (start && end && end < start) {
      throw invalidParameterValue('The end time must be later than the start time.');
    }
    const zone = params.get('AvailabilityZone');
    if (zone !== undefined) state.assertZone(zone);
    const requestedTypes = params.strings('InstanceType');
    const types = requestedTypes.length ? requestedTypes : state.prices.knownTypes();
    const requestedProducts = params.strings('ProductDescription');
    const products = requestedProducts.length ? requestedProducts : SPOT_PRODUCTS;
    const records = types.flatMap((instanceType) =>
      (zone ? [zone] : state.availabilityZones).flatMap((availabilityZone) =>
        state.prices
          .spotChanges(instanceType, availabilityZone, start, end)
          .flatMap((change) =>
            products
              .filter((product) => SPOT_PRODUCTS.includes(product))
              .map((productDescription) => ({ ...change, productDescription })),
          ),
      ),
    );
    const filtered = applyFilters(
      records,
      params,
      {
        'availability-zone': (r) => r.availabilityZone,
        'instance-type': (r) => r.instanceType,
        'product-description': (r) => r.productDescription,
        'spot-price': (r) => formatPrice(r.price),
        timestamp: (r) => r.timestamp.toISOString(),
      },
      () => new Map(),
    );
    filtered.sort((a, b) => b.timestamp.getTime() - a.timestamp.getTime());
    const { items: page, next: nextToken } = pageOf(filtered, params);
    return {
      nextToken,
      spotPriceHistorySet: page.map((r) => ({
        instanceType: r.instanceType,
        productDescription: r.productDescription,
        spotPrice: formatPrice(r.price),
        timestamp: r.timestamp,
        availabilityZone: r.availabilityZone,
        availabilityZoneId: zoneId(state.region, r.availabilityZone),
      })),
    };
  },

  GetSpotPlacementScores({ params, state }) {
    const instanceTypes = [...new Set(params.strings('InstanceType'))];
    if (params.has('InstanceRequirementsWithMetadata')) {
      throw new AwsError(
        'Unsupported',
        'The local cloud scores instance types only: send InstanceTypes instead of InstanceRequirementsWithMetadata.',
      );
    }
    if (!instanceTypes.length) throw missingParameter('InstanceTypes or InstanceRequirementsWithMetadata');
    const target = params.int('TargetCapacity');
    if (target === undefined) throw missingParameter('TargetCapacity');
    if (target < 1 || target > 2_000_000_000) {
      throw invalidParameterValue(
        `Value (${target}) for parameter TargetCapacity is invalid. Expecting 1 to 2000000000.`,
      );
    }
    const unit = params.get('TargetCapacityUnitType') ?? 'units';
    if (unit !== 'units') {
      throw new AwsError(
        'Unsupported',
        `The local cloud scores TargetCapacityUnitType 'units' only, not '${unit}'.`,
      );
    }
    const regions = params.strings('RegionName');
    if (regions.length && !regions.includes(state.region)) return { spotPlacementScoreSet: [] };
    const freeIn = (zone: string) =>
      instanceTypes.reduce(
        (sum, instanceType) =>
          sum + state.capacity.available({ availabilityZone: zone, instanceType, market: 'spot' }),
        0,
      );
    const scores = params.bool('SingleAvailabilityZone')
      ? state.availabilityZones.map((zone) => ({
          region: state.region,
          availabilityZoneId: zoneId(state.region, zone),
          score: placementScore(freeIn(zone), target, instanceTypes.length),
        }))
      : [
          {
            region: state.region,
            score: placementScore(
              state.availabilityZones.reduce((sum, zone) => sum + freeIn(zone), 0),
              target,
              instanceTypes.length,
            ),
          },
        ];
    scores.sort((a, b) => b.score - a.score);
    const { items: page, next: nextToken } = pageOf(scores, params, { min: 10, max: 1000 });
    return { spotPlacementScoreSet: page, nextToken };
  },

  DescribeReservedInstances({ params, state }) {
    const ids = params.strings('ReservedInstancesId');
    const offeringClass = params.get('OfferingClass');
    const offeringType = params.get('OfferingType');
    const listed = [...state.reservedInstances.values()].filter(
      (ri) =>
        (!ids.length || ids.includes(ri.reservedInstancesId)) &&
        (offeringClass === undefined || ri.offeringClass === offeringClass) &&
        (offeringType === undefined || ri.offeringType === offeringType),
    );
    const filtered = applyFilters(
      listed,
      params,
      {
        'availability-zone': (ri) => ri.availabilityZone,
        duration: (ri) => String(ri.duration),
        end: (ri) => endOf(ri).toISOString(),
        'fixed-price': (ri) => String(ri.fixedPrice),
        'instance-type': (ri) => ri.instanceType,
        scope: (ri) => ri.scope,
        'product-description': (ri) => ri.productDescription,
        'reserved-instances-id': (ri) => ri.reservedInstancesId,
        start: (ri) => ri.start.toISOString(),
        state: (ri) => stateAt(ri, state.now()),
        'usage-price': () => '0',
      },
      (ri) => ri.tags,
    );
    return { reservedInstancesSet: filtered.map((ri) => renderReservedInstances(ri, state)) };
  },
};
