import { randomUUID } from 'node:crypto';
import { AwsError } from '../../contracts.ts';
import { Params } from '../../query.ts';
import type { XmlObject } from '../../xml.ts';
import type { Market, Pool } from '../capacity.ts';
import { idempotentParameterMismatch, invalidParameterValue, missingParameter } from '../errors.ts';
import { requirementsOf, typesMatching } from '../instance-types.ts';
import type {
  Fleet,
  FleetError,
  FleetLaunch,
  FleetLaunchTemplateConfig,
  FleetOutcome,
  FleetOverride,
  FleetTemplateSpec,
  Tags,
} from '../model.ts';
import { applyFilters, EC2_DIALECT, pageOf } from '../query.ts';
import { tagSet } from '../render.ts';
import type { Ec2State } from '../state.ts';
import { type Action, parseTagSpecifications, tagsFor } from './context.ts';
import {
  capacityError,
  clientToken,
  type FleetLaunchOptions,
  fingerprint,
  launchReservation,
  planLaunch,
  reserveCapacity,
} from './instances.ts';

/**
 * EC2 Fleet of type `instant`: one synchronous request that launches Spot and On-Demand
 * instances across the pools its launch template overrides name, in the order its allocation
 * strategies give, and answers with the instances launched and an error per override that
 * failed. The fleet reads `fulfilled` even when short, and EC2 retries nothing. Each launch goes
 * through RunInstances' plan (template, subnet, tags, capacity), so both draw from the same pools.
 */

const SPOT_STRATEGIES = [
  'lowest-price',
  'diversified',
  'capacity-optimized',
  'capacity-optimized-prioritized',
  'price-capacity-optimized',
] as const;
const ON_DEMAND_STRATEGIES = ['lowest-price', 'prioritized'] as const;
const INTERRUPTION_BEHAVIORS = ['terminate', 'stop', 'hibernate'] as const;

function oneOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  name: string,
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!allowed.includes(value as T)) {
    throw invalidParameterValue(
      `Value (${value}) for parameter ${name} is invalid. Expected one of ${allowed.join(', ')}.`,
    );
  }
  return value as T;
}

/** `WeightedCapacity` and `Priority` are doubles. */
function number(params: Params, name: string): number | undefined {
  const value = params.get(name);
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed < 0)
    throw invalidParameterValue(`Invalid value '${value}' for ${name}`);
  return parsed;
}

function parseOverride(o: Params): FleetOverride {
  const weightedCapacity = number(o, 'WeightedCapacity');
  if (weightedCapacity === 0) throw invalidParameterValue('WeightedCapacity must be greater than 0.');
  return {
    instanceType: o.get('InstanceType'),
    subnetId: o.get('SubnetId'),
    availabilityZone: o.get('AvailabilityZone'),
    maxPrice: o.get('MaxPrice'),
    weightedCapacity,
    priority: number(o, 'Priority'),
    imageId: o.get('ImageId'),
    instanceRequirements: requirementsOf(o),
  };
}

function parseConfigs(params: Params): FleetLaunchTemplateConfig[] {
  const configs = params.structs('LaunchTemplateConfigs').map((c) => {
    const spec = c.scope('LaunchTemplateSpecification');
    return {
      template: {
        launchTemplateId: spec.get('LaunchTemplateId'),
        launchTemplateName: spec.get('LaunchTemplateName'),
        version: spec.get('Version'),
      },
      overrides: c.structs('Overrides').map(parseOverride),
    };
  });
  if (!configs.length) throw missingParameter('LaunchTemplateConfigs');
  if (configs.length > 50) throw invalidParameterValue('A fleet takes at most 50 LaunchTemplateConfigs.');
  return configs;
}

/** A pool the fleet may launch into: one override (with its instance type settled) in one market. */
interface Candidate {
  template: FleetTemplateSpec;
  override: FleetOverride;
  /** The override as the response shows it (InstanceRequirements resolved to a type). */
  shown: FleetOverride;
  market: Market;
  pool: Pool;
  weight: number;
  /** Hourly price of one instance. */
  price: number;
  order: number;
}

/** RunInstances parameters for `count` instances of a candidate: the template and the override's fields. */
function launchParams(template: FleetTemplateSpec, override: FleetOverride, count: number): Params {
  const raw: Record<string, string> = { MinCount: '1', MaxCount: String(count) };
  const set = (key: string, value: string | undefined) => {
    if (value !== undefined) raw[key] = value;
  };
  set('LaunchTemplate.LaunchTemplateId', template.launchTemplateId);
  set('LaunchTemplate.LaunchTemplateName', template.launchTemplateName);
  set('LaunchTemplate.Version', template.version);
  set('InstanceType', override.instanceType);
  set('SubnetId', override.subnetId);
  set('Placement.AvailabilityZone', override.availabilityZone);
  set('ImageId', override.imageId);
  return new Params(raw, EC2_DIALECT);
}

interface FleetRequest {
  configs: FleetLaunchTemplateConfig[];
  targets: Record<Market, number>;
  spot: {
    strategy: (typeof SPOT_STRATEGIES)[number];
    interruptionBehavior: (typeof INTERRUPTION_BEHAVIORS)[number];
    poolsToUse: number;
  };
  onDemandStrategy: (typeof ON_DEMAND_STRATEGIES)[number];
  limits: Record<Market, MarketLimits>;
  instanceTags: Tags;
  fleetTags: Tags;
}

interface MarketLimits {
  singleInstanceType: boolean;
  singleAvailabilityZone: boolean;
  minTargetCapacity?: number;
  maxTotalPrice?: number;
}

function parseLimits(options: Params, market: Market): MarketLimits {
  const limits: MarketLimits = {
    singleInstanceType: options.bool('SingleInstanceType') ?? false,
    singleAvailabilityZone: options.bool('SingleAvailabilityZone') ?? false,
    minTargetCapacity: options.int('MinTargetCapacity'),
    maxTotalPrice: number(options, 'MaxTotalPrice'),
  };
  if (
    limits.minTargetCapacity !== undefined &&
    !limits.singleInstanceType &&
    !limits.singleAvailabilityZone
  ) {
    throw invalidParameterValue(
      `${market === 'spot' ? 'SpotOptions' : 'OnDemandOptions'}.MinTargetCapacity needs SingleInstanceType or SingleAvailabilityZone.`,
    );
  }
  return limits;
}

function parseTargets(params: Params): Record<Market, number> {
  const spec = params.scope('TargetCapacitySpecification');
  const total = spec.int('TotalTargetCapacity');
  if (total === undefined) throw missingParameter('TargetCapacitySpecification.TotalTargetCapacity');
  if (total < 1) throw invalidParameterValue(`TotalTargetCapacity must be at least 1, not ${total}.`);
  const unit = spec.get('TargetCapacityUnitType') ?? 'units';
  if (unit !== 'units') {
    throw new AwsError('Unsupported', `The local cloud counts fleet capacity in units only, not '${unit}'.`);
  }
  const onDemand = spec.int('OnDemandTargetCapacity') ?? 0;
  const spot = spec.int('SpotTargetCapacity') ?? 0;
  if (onDemand < 0 || spot < 0 || onDemand + spot > total) {
    throw invalidParameterValue(
      `OnDemandTargetCapacity (${onDemand}) plus SpotTargetCapacity (${spot}) must not exceed TotalTargetCapacity (${total}).`,
    );
  }
  const rest = total - onDemand - spot;
  const defaultType = spec.get('DefaultTargetCapacityType');
  if (rest > 0 && defaultType === undefined) {
    throw missingParameter('TargetCapacitySpecification.DefaultTargetCapacityType');
  }
  const type = oneOf(defaultType, ['spot', 'on-demand'], 'DefaultTargetCapacityType', 'on-demand');
  return {
    spot: spot + (type === 'spot' ? rest : 0),
    'on-demand': onDemand + (type === 'on-demand' ? rest : 0),
  };
}

function parseRequest(params: Params): FleetRequest {
  const type = oneOf(params.get('Type'), ['instant', 'request', 'maintain'], 'Type', 'maintain');
  if (type !== 'instant') {
    throw new AwsError('Unsupported', `The local cloud runs EC2 Fleets of type instant only, not '${type}'.`);
  }
  if (params.bool('ReplaceUnhealthyInstances')) {
    throw invalidParameterValue('ReplaceUnhealthyInstances is supported only for fleets of type maintain.');
  }
  const spot = params.scope('SpotOptions');
  const onDemand = params.scope('OnDemandOptions');
  const poolsToUse = spot.int('InstancePoolsToUseCount') ?? 1;
  if (poolsToUse < 1) throw invalidParameterValue('InstancePoolsToUseCount must be at least 1.');
  const tags = parseTagSpecifications(params, ['fleet', 'instance']);
  return {
    configs: parseConfigs(params),
    targets: parseTargets(params),
    spot: {
      strategy: oneOf(
        spot.get('AllocationStrategy'),
        SPOT_STRATEGIES,
        'SpotOptions.AllocationStrategy',
        'lowest-price',
      ),
      interruptionBehavior: oneOf(
        spot.get('InstanceInterruptionBehavior'),
        INTERRUPTION_BEHAVIORS,
        'SpotOptions.InstanceInterruptionBehavior',
        'terminate',
      ),
      poolsToUse,
    },
    onDemandStrategy: oneOf(
      onDemand.get('AllocationStrategy'),
      ON_DEMAND_STRATEGIES,
      'OnDemandOptions.AllocationStrategy',
      'lowest-price',
    ),
    limits: { spot: parseLimits(spot, 'spot'), 'on-demand': parseLimits(onDemand, 'on-demand') },
    instanceTags: tagsFor(tags, 'instance'),
    fleetTags: tagsFor(tags, 'fleet'),
  };
}

class FleetRun {
  readonly launches: FleetLaunch[] = [];
  readonly errors: FleetError[] = [];
  readonly fulfilled: Record<Market, number> = { spot: 0, 'on-demand': 0 };
  private readonly spent: Record<Market, number> = { spot: 0, 'on-demand': 0 };

  constructor(
    private readonly state: Ec2State,
    private readonly request: FleetRequest,
    private readonly fleetId: string,
  ) {}

  private options(market: Market, override: FleetOverride): FleetLaunchOptions {
    const tags: Tags = new Map(this.request.instanceTags);
    tags.set('aws:ec2:fleet-id', this.fleetId);
    return {
      market,
      maxPrice: market === 'spot' ? override.maxPrice : undefined,
      interruptionBehavior: this.request.spot.interruptionBehavior,
      instanceTags: tags,
    };
  }

  private fail(outcome: FleetOutcome, error: AwsError) {
    this.errors.push({ ...outcome, errorCode: error.code, errorMessage: error.message });
  }

  /** Every override in `market`, checked the way RunInstances checks a launch; the ones that cannot launch become errors. */
  candidates(market: Market): Candidate[] {
    const found: Candidate[] = [];
    for (const config of this.request.configs) {
      for (const override of config.overrides.length ? config.overrides : [{}]) {
        const types =
          override.instanceRequirements && override.instanceType === undefined
            ? typesMatching(this.state.prices.knownTypes(), override.instanceRequirements)
            : [override.instanceType];
        for (const instanceType of types) {
          const shown: FleetOverride = { ...override, instanceType, instanceRequirements: undefined };
          try {
            const plan = planLaunch(
              this.state,
              launchParams(config.template, shown, 1),
              this.options(market, shown),
            );
            const price =
              market === 'spot'
                ? this.state.prices.spotPrice(plan.pool.instanceType, plan.pool.availabilityZone)
                : this.state.prices.onDemandPrice(plan.pool.instanceType);
            const weight = override.weightedCapacity ?? 1;
            found.push({
              template: config.template,
              override,
              shown: { ...shown, instanceType: plan.pool.instanceType },
              market,
              pool: plan.pool,
              weight,
              price,
              order: found.length,
            });
          } catch (error) {
            if (!(error instanceof AwsError)) throw error;
            this.fail({ template: config.template, override: shown, lifecycle: market }, error);
          }
        }
      }
    }
    return found;
  }

  private room(candidate: Candidate): number {
    return this.state.capacity.available(candidate.pool) * candidate.weight;
  }

  /** The candidates in the order the market's allocation strategy tries them, for `remaining` units. */
  private rank(market: Market, live: Candidate[], remaining: number): Candidate[] {
    const byPrice = (a: Candidate, b: Candidate) =>
      a.price / a.weight - b.price / b.weight || a.order - b.order;
    const byPriority = (a: Candidate, b: Candidate) =>
      (a.override.priority ?? Number.POSITIVE_INFINITY) - (b.override.priority ?? Number.POSITIVE_INFINITY);
    const byRoom = (a: Candidate, b: Candidate) => this.room(b) - this.room(a) || a.order - b.order;
    const sorted = [...live];
    if (market === 'on-demand') {
      return this.request.onDemandStrategy === 'prioritized'
        ? sorted.sort((a, b) => byPriority(a, b) || byPrice(a, b))
        : sorted.sort(byPrice);
    }
    switch (this.request.spot.strategy) {
      case 'capacity-optimized':
        return sorted.sort(byRoom);
      case 'capacity-optimized-prioritized': {
        const deep = (c: Candidate) => (this.room(c) >= remaining ? 0 : 1);
        return sorted.sort((a, b) => deep(a) - deep(b) || byPriority(a, b) || byRoom(a, b));
      }
      case 'price-capacity-optimized': {
        // The pools with the most room for this launch first, the cheapest of them first.
        const most = Math.max(...live.map((c) => this.room(c)));
        const tier = (c: Candidate) => (this.room(c) >= remaining || this.room(c) === most ? 0 : 1);
        return sorted.sort((a, b) => tier(a) - tier(b) || (tier(a) ? byRoom(a, b) : 0) || byPrice(a, b));
      }
      default:
        return sorted.sort(byPrice);
    }
  }

  /** How many pools take turns: one (fill the best), N for lowest-price, all for diversified. */
  private spread(market: Market, live: number): number {
    if (market === 'on-demand') return 1;
    if (this.request.spot.strategy === 'diversified') return live;
    if (this.request.spot.strategy === 'lowest-price') return this.request.spot.poolsToUse;
    return 1;
  }

  /** Launches up to `count` instances of a candidate; returns the units launched (0 when it failed). */
  private launch(candidate: Candidate, count: number): number {
    const outcome: FleetOutcome = {
      template: candidate.template,
      override: candidate.shown,
      lifecycle: candidate.market,
    };
    const { maxTotalPrice } = this.request.limits[candidate.market];
    const affordable =
      maxTotalPrice === undefined
        ? count
        : Math.min(
            count,
            Math.floor((maxTotalPrice - this.spent[candidate.market]) / candidate.price + 1e-9),
          );
    if (affordable < 1) return 0;
    try {
      const plan = planLaunch(
        this.state,
        launchParams(candidate.template, candidate.shown, affordable),
        this.options(candidate.market, candidate.shown),
      );
      reserveCapacity(this.state, plan);
      const { instances } = launchReservation(this.state, plan);
      const earlier = this.launches.find(
        (l) => l.lifecycle === candidate.market && l.override === candidate.shown,
      );
      if (earlier) earlier.instanceIds.push(...instances.map((i) => i.instanceId));
      else {
        this.launches.push({
          ...outcome,
          instanceType: candidate.pool.instanceType,
          instanceIds: instances.map((i) => i.instanceId),
        });
      }
      this.spent[candidate.market] += instances.length * candidate.price;
      if (instances.length < affordable) {
        this.fail(outcome, capacityError(this.state, candidate.pool));
      }
      return instances.length * candidate.weight;
    } catch (error) {
      if (!(error instanceof AwsError)) throw error;
      this.fail(outcome, error);
      return 0;
    }
  }

  /** Fills the market's target from its candidates, pool after pool, as the strategy orders them. */
  fill(market: Market, all: Candidate[]) {
    const target = this.request.targets[market];
    const limits = this.request.limits[market];
    let candidates = all;
    if (limits.singleAvailabilityZone || limits.singleInstanceType) {
      const groupOf = (c: Candidate) =>
        `${limits.singleAvailabilityZone ? c.pool.availabilityZone : ''}|${limits.singleInstanceType ? c.pool.instanceType : ''}`;
      const groups = new Map<string, Candidate[]>();
      for (const c of all) groups.set(groupOf(c), [...(groups.get(groupOf(c)) ?? []), c]);
      const roomOf = (group: Candidate[]) => group.reduce((sum, c) => sum + this.room(c), 0);
      const best = [...groups.values()].sort((a, b) => roomOf(b) - roomOf(a))[0] ?? [];
      if (limits.minTargetCapacity !== undefined && roomOf(best) < limits.minTargetCapacity) {
        for (const c of best.length ? best : all) {
          this.fail(
            { template: c.template, override: c.shown, lifecycle: market },
            new AwsError('UnfulfillableCapacity', unfulfillableMessage),
          );
        }
        return;
      }
      candidates = best;
    }
    const failed = new Set<Candidate>();
    let remaining = target;
    while (remaining > 0) {
      const live = candidates.filter((c) => !failed.has(c));
      if (!live.length) break;
      const ranked = this.rank(market, live, remaining);
      const turn = ranked.slice(0, this.spread(market, live.length));
      for (const candidate of turn) {
        if (remaining <= 0) break;
        const count = turn.length === 1 ? Math.ceil(remaining / candidate.weight) : 1;
        const units = this.launch(candidate, count);
        if (units < count * candidate.weight) failed.add(candidate);
        remaining -= units;
        this.fulfilled[market] += units;
      }
    }
  }
}

const unfulfillableMessage =
  "At this time there isn't enough spare capacity to fulfill your request. You can wait a few minutes to see whether capacity becomes available, or create a more flexible request.";

function renderOverride(override: FleetOverride): XmlObject {
  return {
    instanceType: override.instanceType,
    maxPrice: override.maxPrice,
    subnetId: override.subnetId,
    availabilityZone: override.availabilityZone,
    weightedCapacity: override.weightedCapacity,
    priority: override.priority,
    imageId: override.imageId,
  };
}

function renderTemplateSpec(template: FleetTemplateSpec): XmlObject {
  return {
    launchTemplateId: template.launchTemplateId,
    launchTemplateName: template.launchTemplateName,
    version: template.version,
  };
}

function renderOutcome(outcome: FleetOutcome): XmlObject {
  return {
    launchTemplateAndOverrides: {
      launchTemplateSpecification: renderTemplateSpec(outcome.template),
      overrides: renderOverride(outcome.override),
    },
    lifecycle: outcome.lifecycle,
  };
}

const renderErrors = (fleet: Fleet) =>
  fleet.errors.map((e) => ({ ...renderOutcome(e), errorCode: e.errorCode, errorMessage: e.errorMessage }));

const renderInstances = (fleet: Fleet) =>
  fleet.launches.map((l) => ({
    ...renderOutcome(l),
    instanceIds: l.instanceIds,
    instanceType: l.instanceType,
  }));

function renderFleet(fleet: Fleet): XmlObject {
  return {
    activityStatus: 'fulfilled',
    createTime: fleet.createTime,
    fleetId: fleet.fleetId,
    fleetState: 'active',
    clientToken: fleet.clientToken,
    fulfilledCapacity: fleet.fulfilledCapacity,
    fulfilledOnDemandCapacity: fleet.fulfilledOnDemandCapacity,
    launchTemplateConfigs: fleet.launchTemplateConfigs.map((c) => ({
      launchTemplateSpecification: renderTemplateSpec(c.template),
      overrides: c.overrides.length ? c.overrides.map(renderOverride) : undefined,
    })),
    targetCapacitySpecification: {
      totalTargetCapacity: fleet.targetCapacity.total,
      onDemandTargetCapacity: fleet.targetCapacity.onDemand,
      spotTargetCapacity: fleet.targetCapacity.spot,
      defaultTargetCapacityType: fleet.targetCapacity.defaultType,
    },
    terminateInstancesWithExpiration: false,
    type: fleet.type,
    replaceUnhealthyInstances: false,
    spotOptions: {
      allocationStrategy: fleet.spotAllocationStrategy,
      instanceInterruptionBehavior: fleet.instanceInterruptionBehavior,
    },
    onDemandOptions: { allocationStrategy: fleet.onDemandAllocationStrategy },
    tagSet: tagSet(fleet.tags),
    errorSet: renderErrors(fleet),
    fleetInstanceSet: renderInstances(fleet),
  };
}

const createFleetResponse = (fleet: Fleet): XmlObject => ({
  fleetId: fleet.fleetId,
  errorSet: renderErrors(fleet),
  fleetInstanceSet: renderInstances(fleet),
});

/** `fleet-` and a UUID, as EC2 names fleets. */
const newFleetId = () => `fleet-${randomUUID()}`;

export const fleetActions: Record<string, Action> = {
  CreateFleet({ params, state, commit }) {
    const token = clientToken(params);
    const print = fingerprint(params);
    const earlier = token !== undefined ? state.fleetTokens.get(token) : undefined;
    if (earlier) {
      if (earlier.fingerprint !== print) throw idempotentParameterMismatch(token!);
      commit();
      return createFleetResponse(state.fleets.get(earlier.fleetId)!);
    }
    const request = parseRequest(params);
    commit();
    const fleetId = newFleetId();
    const run = new FleetRun(state, request, fleetId);
    // On-Demand first (it is the capacity the request counts on), then Spot.
    for (const market of ['on-demand', 'spot'] as const) {
      if (request.targets[market] > 0) run.fill(market, run.candidates(market));
    }
    const spec = params.scope('TargetCapacitySpecification');
    const fleet: Fleet = {
      fleetId,
      type: 'instant',
      createTime: state.now(),
      clientToken: token,
      tags: request.fleetTags,
      targetCapacity: {
        total: spec.int('TotalTargetCapacity')!,
        onDemand: request.targets['on-demand'],
        spot: request.targets.spot,
        defaultType: spec.get('DefaultTargetCapacityType') as Fleet['targetCapacity']['defaultType'],
      },
      spotAllocationStrategy: request.spot.strategy,
      onDemandAllocationStrategy: request.onDemandStrategy,
      instanceInterruptionBehavior: request.spot.interruptionBehavior,
      launchTemplateConfigs: request.configs,
      launches: run.launches,
      errors: run.errors,
      fulfilledCapacity: run.fulfilled.spot + run.fulfilled['on-demand'],
      fulfilledOnDemandCapacity: run.fulfilled['on-demand'],
    };
    state.fleets.set(fleetId, fleet);
    if (token !== undefined) state.fleetTokens.set(token, { fingerprint: print, fleetId });
    return createFleetResponse(fleet);
  },

  DescribeFleets({ params, state }) {
    const ids = params.strings('FleetId');
    const fleets = [...state.fleets.values()].filter((f) => !ids.length || ids.includes(f.fleetId));
    const filtered = applyFilters(
      fleets,
      params,
      {
        'activity-status': () => 'fulfilled',
        'fleet-state': () => 'active',
        'replace-unhealthy-instances': () => 'false',
        type: (f) => f.type,
      },
      (f) => f.tags,
    );
    const { items: page, next: nextToken } = pageOf(filtered, params, { min: 1, max: 1000 });
    return { fleetSet: page.map(renderFleet), nextToken };
  },
};
