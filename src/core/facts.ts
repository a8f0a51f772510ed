/**
 * What EC2 and ELBv2 say: the facts the ports carry. The core decides on these, never on what an
 * event claims; adapters translate the SDK's shapes into them.
 */

/** Every state EC2 reports for an instance (`DescribeInstances`, state-change events). */
export const INSTANCE_STATES = [
  'pending',
  'running',
  'stopping',
  'stopped',
  'shutting-down',
  'terminated',
] as const;

export type InstanceState = (typeof INSTANCE_STATES)[number];

/** Is `state` one EC2 reports for an instance? */
export const isInstanceState = (state: string): state is InstanceState =>
  (INSTANCE_STATES as readonly string[]).includes(state);

/** The old instance's state as a workflow records it: EC2's, or `gone` once EC2 no longer knows it. */
export type RecordedState = InstanceState | 'gone';

/** EC2 has begun taking the instance back (stop, hibernate, terminate), or has taken it. */
const LEAVING_OR_GONE: ReadonlySet<string> = new Set([
  'stopping',
  'stopped',
  'shutting-down',
  'terminated',
  'gone',
]);
export const isLeavingOrGone = (state: RecordedState | undefined): boolean =>
  state !== undefined && LEAVING_OR_GONE.has(state);

/** The instance has let go of its volumes, interfaces and IPs. */
const RESOURCES_RELEASED: ReadonlySet<string> = new Set(['stopped', 'terminated', 'gone']);
export const hasReleasedResources = (state: RecordedState | undefined): boolean =>
  state !== undefined && RESOURCES_RELEASED.has(state);

/** An EBS volume attached to an instance, as `DescribeInstances` reports it. */
export interface AttachedVolume {
  volumeId: string;
  deviceName: string;
  deleteOnTermination: boolean;
  /** `attaching` | `attached` | `detaching` | `detached` */
  status: string;
}

export interface InterfacePrivateIp {
  privateIpAddress: string;
  primary: boolean;
  /** Elastic IP associated with this private IP, if any. */
  elasticIp?: { publicIp: string; allocationId: string; associationId?: string };
}

/** A network interface attached to an instance. */
export interface AttachedInterface {
  networkInterfaceId: string;
  deviceIndex: number;
  attachmentId: string;
  deleteOnTermination: boolean;
  subnetId: string;
  /** `attaching` | `attached` | `detaching` | `detached` */
  status: string;
  privateIps: InterfacePrivateIp[];
}

/** What EC2 says about an instance right now. The core acts on this, never on what an event claims. */
export interface InstanceFacts {
  instanceId: string;
  state: InstanceState;
  /** `StateReason.Code`, e.g. `Server.SpotInstanceTermination`. */
  stateReason?: string;
  instanceType: string;
  availabilityZone: string;
  subnetId?: string;
  vpcId?: string;
  /** Primary private IP of the primary interface. */
  privateIpAddress?: string;
  /** `spot` for Spot instances; undefined for On-Demand. */
  lifecycle?: 'spot' | 'scheduled' | 'capacity-block';
  launchTemplate?: { id: string; version: string };
  clientToken?: string;
  launchTime?: string;
  rootDeviceName?: string;
  tags: Record<string, string>;
  volumes: AttachedVolume[];
  networkInterfaces: AttachedInterface[];
}

/** What to launch. The ClientToken makes the call idempotent: the same token returns the same instance. */
export interface LaunchRequest {
  clientToken: string;
  launchTemplate: { id: string; version: string };
  subnetId: string;
  /** Overrides the launch template's instance type when set. */
  instanceType?: string;
  tags: Record<string, string>;
  /** Primary private IP for the replacement (stateful handoff of the primary IP). */
  privateIpAddress?: string;
  /** Root volume from this snapshot (stateful handoff of the root volume's data). */
  rootSnapshot?: { deviceName: string; snapshotId: string };
  /**
   * Asks for Spot in the request (`InstanceMarketOptions`), for a launch template that does not.
   * Otherwise the template decides: RunInstances cannot ask for On-Demand over a Spot template.
   */
  spot?: boolean;
}

export type LaunchResult =
  /** `lifecycle`: what EC2 launched (absent in a dry run). */
  | { ok: true; instanceId: string; lifecycle?: 'spot' | 'on-demand' }
  /** EC2 has no capacity for this request (`InsufficientInstanceCapacity`, …): retry later or elsewhere. */
  | { ok: false; reason: 'capacity'; code: string; message: string };

/** A capacity pool: one instance type in one Availability Zone (reached through one of its subnets). */
export interface PoolFacts {
  instanceType: string;
  availabilityZone: string;
  subnetId: string;
}

/** One override of a fleet request: a pool, in the order the choice gives. */
export interface FleetOverride extends PoolFacts {
  /** On-Demand `prioritized`: lower goes first. */
  priority?: number;
  weightedCapacity?: number;
}

/**
 * A `CreateFleet` of type `instant`: `total` instances over the overrides, `onDemand` of them
 * On-Demand, the rest Spot. The ClientToken makes a repeated request return the first one's instances.
 */
export interface FleetRequest {
  clientToken: string;
  launchTemplate: { id: string; version: string };
  overrides: FleetOverride[];
  total: number;
  onDemand: number;
  spotStrategy: 'price-capacity-optimized' | 'capacity-optimized' | 'lowest-price' | 'diversified';
  onDemandStrategy: 'lowest-price' | 'prioritized';
  /** Put on every instance at launch. */
  tags: Record<string, string>;
}

export interface FleetInstance extends PoolFacts {
  instanceId: string;
  lifecycle: 'spot' | 'on-demand';
}

/** What an `instant` fleet launched, and an error per override that failed (EC2 retries nothing). */
export interface FleetResult {
  instances: FleetInstance[];
  errors: {
    instanceType?: string;
    subnetId?: string;
    lifecycle: 'spot' | 'on-demand';
    code: string;
    message: string;
  }[];
}

/** Reserved Instances of one type, Regional or in one AZ, and how many running On-Demand instances they do not cover. */
export interface UnusedReservation {
  reservedInstancesId: string;
  instanceType: string;
  /** Absent for a Regional RI. */
  availabilityZone?: string;
  unused: number;
}

export type TargetType = 'instance' | 'ip';

/** One registration of a target in a target group. */
export interface Target {
  targetGroupArn: string;
  targetType: TargetType;
  /** Instance id for `instance` targets, private IP for `ip` targets. */
  id: string;
  port: number;
  /** Only for `ip` targets outside the VPC (`all`). */
  availabilityZone?: string;
}

export interface ElbCallCount {
  /** How many ELB API calls the operation made. */
  calls: number;
  /** How many workflows' requests those calls served together (a batch), if more than one. */
  sharedBy?: number;
}

/** An EBS volume as `DescribeVolumes` reports it. */
export interface VolumeFacts {
  volumeId: string;
  /** `creating` | `available` | `in-use` | `deleting` | `deleted` | `error` */
  state: string;
  availabilityZone: string;
  size: number;
  volumeType?: string;
  snapshotId?: string;
  /** Current attachments (0 or 1 for non-multi-attach volumes). */
  attachments: { instanceId: string; device: string; state: string; deleteOnTermination: boolean }[];
  tags: Record<string, string>;
}

/** A network interface as `DescribeNetworkInterfaces` reports it. */
export interface InterfaceFacts {
  networkInterfaceId: string;
  /** `available` | `attaching` | `in-use` | `detaching` */
  status: string;
  subnetId: string;
  availabilityZone: string;
  attachment?: {
    attachmentId: string;
    instanceId?: string;
    deviceIndex: number;
    status: string;
    deleteOnTermination: boolean;
  };
  privateIps: InterfacePrivateIp[];
  tags: Record<string, string>;
}

export interface SnapshotFacts {
  snapshotId: string;
  volumeId: string;
  /** `pending` | `completed` | `error` */
  state: string;
  tags: Record<string, string>;
}

export interface SubnetFacts {
  subnetId: string;
  vpcId: string;
  availabilityZone: string;
}
