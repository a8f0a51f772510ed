import type { EventEnvelope } from '../../src/core/events.ts';
import {
  AwsError,
  type InstanceDirectory,
  type QueryRequest,
  type QueryService,
  type VirtualClock,
} from '../contracts.ts';
import { Params } from '../query.ts';
import { document } from '../xml.ts';
import { type Action, createContext } from './actions/context.ts';
import { fleetActions } from './actions/fleet.ts';
import { instanceTypeActions } from './actions/instance-types.ts';
import { instanceActions } from './actions/instances.ts';
import { launchTemplateActions } from './actions/launch-templates.ts';
import { marketActions } from './actions/market.ts';
import { networkActions } from './actions/network.ts';
import { tagActions } from './actions/tags.ts';
import { volumeActions } from './actions/volumes.ts';
import { vpcActions } from './actions/vpc.ts';
import type { Pool, PoolSelector } from './capacity.ts';
import { dryRunOperation } from './errors.ts';
import { createInspection, type Ec2Inspection } from './inspect.ts';
import { type InterruptOptions, interrupt } from './lifecycle.ts';
import { DEFAULT_TIMINGS, type Ec2Timings } from './model.ts';
import { EC2_DIALECT, isDryRun } from './query.ts';
import { createReservedInstances, type ReservedInstancesSpec } from './reserved.ts';
import { Ec2State } from './state.ts';

export const EC2_API_VERSION = '2016-11-15';
const NAMESPACE = `http://ec2.amazonaws.com/doc/${EC2_API_VERSION}/`;

const ACTIONS: Record<string, Action> = {
  ...vpcActions,
  ...launchTemplateActions,
  ...instanceActions,
  ...volumeActions,
  ...networkActions,
  ...tagActions,
  ...fleetActions,
  ...marketActions,
  ...instanceTypeActions,
};

/**
 * A scenario's word on a pool's capacity: `true` gives it back its default room (1,000 instances),
 * `false` empties it, a number sets how many more instances it can launch.
 */
export type CapacityLevel = boolean | number;

export interface Ec2ServiceOptions {
  clock: VirtualClock;
  region: string;
  accountId: string;
  timings?: Partial<Ec2Timings>;
  /** Elastic IPs per Region (default 5, AWS's default quota). */
  elasticIpLimit?: number;
}

/** The local EC2: the Query API, the directory ELBv2 consults, and the test harness's levers. */
export interface Ec2Service extends QueryService, InstanceDirectory {
  /** Runs a Spot interruption (rebalance recommendation, warning, then the action) in virtual time. */
  interrupt(instanceId: string, options?: InterruptOptions): void;
  /** Sets the free instance slots of the pools a selector covers; see {@link CapacityLevel}. */
  setCapacity(pools: PoolSelector, capacity: CapacityLevel): void;
  /** Free instance slots of one pool now. */
  capacityOf(pool: Pool): number;
  /** Sets the Spot price (USD/hour) of a type in one AZ, or in every AZ; DescribeSpotPriceHistory shows the change. */
  setSpotPrice(pool: { instanceType: string; availabilityZone?: string }, price: number): void;
  /** Sets the On-Demand price (USD/hour) of a type. */
  setOnDemandPrice(instanceType: string, price: number): void;
  /** Gives the account Reserved Instances; returns their ReservedInstancesId. */
  addReservedInstances(spec: ReservedInstancesSpec): string;
  /** EventBridge-shaped events from `aws.ec2`. Returns an unsubscribe function. */
  onEvent(listener: (event: EventEnvelope) => void): () => void;
  readonly inspect: Ec2Inspection;
  /** Where a subnet is, for ELBv2's CreateLoadBalancer. */
  subnetInfo(subnetId: string): { vpcId: string; availabilityZone: string } | undefined;
  /** Instances with `ip` on an attached network interface (owners of ELBv2 `ip` targets). */
  instancesWithIp(ip: string): string[];
  /** Names of the actions the service implements. */
  readonly actions: readonly string[];
}

export function renderEc2Error(error: AwsError, requestId: string): string {
  return document('Response', {
    Errors: { Error: { Code: error.code, Message: error.message } },
    RequestID: requestId,
  });
}

export function createEc2Service(options: Ec2ServiceOptions): Ec2Service {
  const state = new Ec2State({
    clock: options.clock,
    region: options.region,
    accountId: options.accountId,
    timings: { ...DEFAULT_TIMINGS, ...options.timings },
    elasticIpLimit: options.elasticIpLimit ?? 5,
  });

  return {
    apiVersion: EC2_API_VERSION,
    actions: Object.keys(ACTIONS),
    handle(request: QueryRequest) {
      const action = Object.hasOwn(ACTIONS, request.action) ? ACTIONS[request.action] : undefined;
      if (!action) {
        throw new AwsError(
          'InvalidAction',
          `The action ${request.action} is not valid for this web service.`,
        );
      }
      const params = new Params(request.params, EC2_DIALECT);
      const body = action(createContext(params, state));
      if (isDryRun(params)) throw dryRunOperation();
      return document(`${request.action}Response`, { requestId: request.requestId, ...body }, NAMESPACE);
    },
    renderError: renderEc2Error,

    instance(instanceId) {
      const instance = state.instances.get(instanceId);
      if (!instance) return undefined;
      return {
        instanceId,
        state: instance.state,
        vpcId: instance.vpcId,
        availabilityZone: instance.availabilityZone,
        privateIps: state.interfacesOf(instanceId).flatMap((eni) => eni.privateIps.map((ip) => ip.address)),
      };
    },
    vpcOfIp: (ip) => state.vpcOfIp(ip),
    onStateChange(listener) {
      state.onStateChange(listener);
    },

    subnetInfo(subnetId) {
      const subnet = state.subnets.get(subnetId);
      return subnet && { vpcId: subnet.vpcId, availabilityZone: subnet.availabilityZone };
    },
    instancesWithIp(ip) {
      const owners = new Set<string>();
      for (const eni of state.interfaces.values()) {
        const instanceId = eni.attachment?.instanceId;
        if (instanceId && eni.privateIps.some((p) => p.address === ip)) owners.add(instanceId);
      }
      return [...owners];
    },

    interrupt: (instanceId, interruptOptions) => interrupt(state, instanceId, interruptOptions),
    setCapacity(pools, capacity) {
      if (pools.availabilityZone !== undefined) state.assertZone(pools.availabilityZone);
      if (capacity === true) state.capacity.reset(pools);
      else state.capacity.set(pools, capacity === false ? 0 : capacity);
    },
    capacityOf: (pool) => state.capacity.available(pool),
    setSpotPrice(pool, price) {
      const zones = pool.availabilityZone === undefined ? state.availabilityZones : [pool.availabilityZone];
      for (const zone of zones) {
        state.assertZone(zone);
        state.prices.setSpotPrice(pool.instanceType, zone, price, state.now());
      }
    },
    setOnDemandPrice: (instanceType, price) => state.prices.setOnDemandPrice(instanceType, price),
    addReservedInstances(spec) {
      if (spec.availabilityZone !== undefined) state.assertZone(spec.availabilityZone);
      const ri = createReservedInstances(spec, state.now(), state.prices.onDemandPrice(spec.instanceType));
      state.reservedInstances.set(ri.reservedInstancesId, ri);
      return ri.reservedInstancesId;
    },
    onEvent: (listener) => state.onEvent(listener),
    inspect: createInspection(state),
  };
}
