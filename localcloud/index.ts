import { ELBV2_READ, ELBV2_WRITE } from '../src/aws/aws-buckets.ts';
import type { EventEnvelope } from '../src/core/events.ts';
import { createClock } from './clock.ts';
import { AwsError, type QueryRequest, type VirtualClock } from './contracts.ts';
import { type LocalDynamo, startDynamo } from './dynamo.ts';
import type { Pool, PoolSelector } from './ec2/capacity.ts';
import type { Ec2Inspection } from './ec2/inspect.ts';
import type { InterruptOptions } from './ec2/lifecycle.ts';
import { ec2Charges, ec2Throttled } from './ec2/limits.ts';
import type { Ec2Timings } from './ec2/model.ts';
import type { ReservedInstancesSpec } from './ec2/reserved.ts';
import { type CapacityLevel, createEc2Service, type Ec2Service } from './ec2/service.ts';
import { createElbv2Service, type Elbv2Service, type Elbv2Timing } from './elbv2/service.ts';
import { type LocalServer, startServer, type ThrottleOptions } from './server.ts';

export type { EventEnvelope } from '../src/core/events.ts';
export type { QueryRequest, VirtualClock } from './contracts.ts';
export type { Market, Pool, PoolSelector } from './ec2/capacity.ts';
export type {
  AddressView,
  Ec2Inspection,
  InstanceView,
  NetworkInterfaceView,
  SnapshotView,
  VolumeView,
} from './ec2/inspect.ts';
export type { InterruptOptions } from './ec2/lifecycle.ts';
export type { Ec2Timings } from './ec2/model.ts';
export type { ReservedInstancesSpec } from './ec2/reserved.ts';
export type { CapacityLevel } from './ec2/service.ts';
export type { ThrottleOptions } from './server.ts';

export interface LocalCloudOptions {
  /** `manual` (default): time moves only with `clock.advance`. A number: virtual ms per real ms. */
  clock?: 'manual' | number;
  /** Where the clock starts (default: a manual clock at 2026-01-01T12:00:00Z, a scaled one now). */
  clockStart?: Date;
  region?: string;
  accountId?: string;
  /** AWS's token buckets, in real time (default on). An object overrides bucket sizes by key. */
  throttling?: boolean | ThrottleOptions;
  /** Start dynalite beside the server (default true). */
  dynamodb?: boolean;
  /** EC2 transition durations in virtual ms. */
  timings?: Partial<Ec2Timings>;
  /** Elastic IPs per Region (default 5, AWS's default quota). */
  elasticIpLimit?: number;
  /** ELBv2 durations (e.g. `loadBalancerProvisioningSeconds`, default 60). */
  elbv2Timing?: Partial<Elbv2Timing>;
  /** Port of the EC2/ELBv2 endpoint (default: any free port). */
  port?: number;
  /**
   * Real milliseconds each request to EC2, ELBv2 and DynamoDB waits before its answer: one AWS
   * round trip (default 0).
   */
  latencyMs?: number;
}

/**
 * ELBv2's read-only calls: 40 requests, 10 a second (documented). Its mutating buckets are not
 * published: modelled as conservatively, 20 requests, 5 a second per action. Both configurable
 * through `throttling.buckets` (`elbv2:<Action>`).
 */
export const elbv2Bucket = (action: string) => (/^Describe/.test(action) ? ELBV2_READ : ELBV2_WRITE);

/**
 * A local AWS for tests and the demo: EC2 and ELBv2 behind one loopback endpoint that the
 * unmodified SDK v3 clients reach through `AWS_ENDPOINT_URL_*`, DynamoDB (dynalite), a virtual
 * clock, and EC2's events.
 *
 * @example
 * const cloud = await LocalCloud.start();
 * const ec2 = new EC2Client(cloud.clientConfig());
 * // … RunInstances …
 * await cloud.clock.advance(8_000); // pending → running
 * cloud.interrupt(instanceId);      // the two-minute warning, then termination
 * await cloud.stop();
 */
export class LocalCloud {
  /** Read-only views of EC2's resources. */
  readonly ec2: Ec2Inspection;
  /** Read-only views of ELBv2's load balancers and target groups. */
  readonly elbv2: Elbv2Service['inspect'];
  private stopped = false;

  private constructor(
    /** `http://127.0.0.1:<port>`: EC2 and ELBv2. */
    readonly endpoint: string,
    readonly region: string,
    readonly accountId: string,
    readonly clock: VirtualClock,
    private readonly server: LocalServer,
    private readonly ec2Service: Ec2Service,
    private readonly elbv2Service: Elbv2Service,
    private readonly dynamo: LocalDynamo | undefined,
  ) {
    this.ec2 = ec2Service.inspect;
    this.elbv2 = elbv2Service.inspect;
  }

  static async start(options: LocalCloudOptions = {}): Promise<LocalCloud> {
    const region = options.region ?? 'us-east-1';
    const accountId = options.accountId ?? '123456789012';
    const clock = createClock(options.clock ?? 'manual', { start: options.clockStart });
    const ec2 = createEc2Service({
      clock,
      region,
      accountId,
      timings: options.timings,
      elasticIpLimit: options.elasticIpLimit,
    });
    const elbv2 = createElbv2Service({
      clock,
      instances: ec2,
      region,
      accountId,
      subnet: (subnetId) => ec2.subnetInfo(subnetId),
      instancesWithIp: (ip) => ec2.instancesWithIp(ip),
      timing: options.elbv2Timing,
    });
    const server = await startServer(
      [
        { service: ec2, charges: ec2Charges, throttled: ec2Throttled },
        {
          service: elbv2,
          charges: (request) => [
            { key: `elbv2:${request.action}`, spec: elbv2Bucket(request.action), cost: 1 },
          ],
          throttled: () => new AwsError('Throttling', 'Rate exceeded', 400),
        },
      ],
      { throttling: options.throttling ?? true, port: options.port, latencyMs: options.latencyMs },
    );
    let dynamo: LocalDynamo | undefined;
    try {
      if (options.dynamodb ?? true) dynamo = await startDynamo({ latencyMs: options.latencyMs });
    } catch (error) {
      await server.close();
      clock.stop();
      throw error;
    }
    return new LocalCloud(server.endpoint, region, accountId, clock, server, ec2, elbv2, dynamo);
  }

  /** DynamoDB endpoint, when started. */
  get dynamoEndpoint(): string | undefined {
    return this.dynamo?.endpoint;
  }

  /** Environment for code that builds its own SDK clients (the handlers, the CLI). */
  env(): Record<string, string> {
    return {
      AWS_ENDPOINT_URL_EC2: this.endpoint,
      AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: this.endpoint,
      ...(this.dynamo ? { AWS_ENDPOINT_URL_DYNAMODB: this.dynamo.endpoint } : {}),
      AWS_REGION: this.region,
      AWS_DEFAULT_REGION: this.region,
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    };
  }

  /** Config for an EC2 or ELBv2 client of this cloud: `new EC2Client(cloud.clientConfig())`. */
  clientConfig(): {
    endpoint: string;
    region: string;
    credentials: { accessKeyId: string; secretAccessKey: string };
  } {
    return {
      endpoint: this.endpoint,
      region: this.region,
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    };
  }

  /** EC2's EventBridge events (`aws.ec2`), delivered asynchronously. Returns an unsubscribe function. */
  onEvent(listener: (event: EventEnvelope) => void): () => void {
    return this.ec2Service.onEvent(listener);
  }

  /**
   * Interrupts a running Spot instance: optional rebalance recommendation (`rebalanceLeadMs`,
   * default 10 min, before the warning), the interruption warning, then after `warningLeadMs`
   * (default 2 min) the `action` (default: the instance's interruption behavior, i.e. `terminate`
   * unless its Spot options say `stop`/`hibernate`). Throws for non-Spot or non-running instances.
   */
  interrupt(instanceId: string, options: InterruptOptions = {}): void {
    this.ec2Service.interrupt(instanceId, options);
  }

  /**
   * The application on a running instance starts failing its load balancer health checks (or,
   * with `failing: false`, passes them again): after the target group's unhealthy threshold its
   * targets report `unhealthy`, as a broken deploy or a wedged process would.
   */
  failHealthChecks(instanceId: string, failing = true): void {
    this.elbv2Service.setFailing(instanceId, failing);
  }

  /**
   * Sets the capacity of the pools (instance type × AZ, Spot and On-Demand apart) a selector
   * covers; an omitted field matches every AZ, type or market. `false` empties them, `true` gives
   * back the default room (1,000 instances per pool), a number says how many more instances they
   * can launch. Launches take room, an instance its owner stops or terminates gives it back, a
   * Spot interruption does not. Pools seen later follow the latest rule that covers them.
   *
   * @example
   * cloud.setCapacity({ instanceType: 'm5.large', availabilityZone: 'us-east-1a', market: 'spot' }, false);
   * cloud.setCapacity({ market: 'spot' }, 0);  // every Spot pool is exhausted
   * cloud.setCapacity({ market: 'spot' }, true); // and back
   */
  setCapacity(pools: PoolSelector, capacity: CapacityLevel): void {
    this.ec2Service.setCapacity(pools, capacity);
  }

  /** How many more instances a pool can launch now. */
  capacityOf(pool: Pool): number {
    return this.ec2Service.capacityOf(pool);
  }

  /**
   * Sets the Spot price (USD per hour) of an instance type in one AZ, or in every AZ; the change
   * appears in DescribeSpotPriceHistory at the current virtual time. Defaults: 30–42% of On-Demand.
   */
  setSpotPrice(pool: { instanceType: string; availabilityZone?: string }, price: number): void {
    this.ec2Service.setSpotPrice(pool, price);
  }

  /** Sets the On-Demand price (USD per hour) of an instance type (defaults: us-east-1 Linux list prices). */
  setOnDemandPrice(instanceType: string, price: number): void {
    this.ec2Service.setOnDemandPrice(instanceType, price);
  }

  /**
   * Gives the account Reserved Instances (zonal with `availabilityZone`, else Regional; by default
   * one active, one-year, standard, No Upfront, Linux/UNIX). Returns the ReservedInstancesId.
   */
  addReservedInstances(spec: ReservedInstancesSpec): string {
    return this.ec2Service.addReservedInstances(spec);
  }

  /**
   * The next `times` calls of `action` (EC2 or ELBv2) fail with `code` before touching state; with
   * `matches`, only calls whose Query parameters it accepts (`{ TargetGroupArn: … }`).
   */
  injectFault(
    action: string,
    code: string,
    times = 1,
    matches?: (params: Record<string, string>) => boolean,
  ): void {
    this.server.injectFault(action, code, times, matches);
  }

  /** API requests received for `action`, or for every action. */
  calls(action?: string): number {
    return this.server.calls(action);
  }

  /** EC2 and ELBv2 requests a token bucket refused, for `action` or for every action. */
  throttled(action?: string): number {
    return this.server.throttled(action);
  }

  /** Every token bucket full again: a scenario's setup does not spend the budget it then measures. */
  refillBuckets(): void {
    this.server.refillBuckets();
  }

  /** Calls `listener` with every EC2 and ELBv2 request as it arrives. Returns an unsubscribe function. */
  onRequest(listener: (request: QueryRequest) => void): () => void {
    return this.server.onRequest(listener);
  }

  /** Closes the endpoint and DynamoDB and drops every pending timer. Calling it again does nothing. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.clock.stop();
    await Promise.all([this.server.close(), this.dynamo?.stop()]);
  }
}
