/**
 * The ports the handoff workflow talks through. The core imports no SDK: adapters in `src/aws`
 * implement these over the AWS SDK v3, and tests implement them over a stateful fake.
 */

export type InstanceState = 'pending' | 'running' | 'stopping' | 'stopped' | 'shutting-down' | 'terminated';

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
}

export type LaunchResult =
  | { ok: true; instanceId: string }
  /** EC2 has no capacity for this request (`InsufficientInstanceCapacity`, …): retry later or elsewhere. */
  | { ok: false; reason: 'capacity'; code: string; message: string };

/** The EC2 calls the workflow makes. Mutations are idempotent. */
export interface Compute {
  /** One call for many ids. An instance EC2 no longer knows is absent from the map. */
  describeInstances(instanceIds: readonly string[]): Promise<Map<string, InstanceFacts>>;
  /** Live instances (pending, running, stopping, stopped) carrying every one of the tags. */
  instancesTagged(tags: Record<string, string>): Promise<InstanceFacts[]>;
  launch(request: LaunchRequest): Promise<LaunchResult>;
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

/** The ELBv2 calls the workflow makes. */
export interface LoadBalancing {
  /**
   * Every registration (including `draining` ones) of the given instances in the target groups of
   * their VPCs: `instance` targets by id, `ip` targets by the instances' private IPs.
   * The number of calls is bounded by the number of target groups, not of instances.
   */
  findTargets(
    instances: readonly InstanceFacts[],
  ): Promise<{ byInstance: Map<string, Target[]> } & ElbCallCount>;
  /** Deregister; idempotent (a target not registered is not an error). One call per target group. */
  deregister(targets: readonly Target[]): Promise<ElbCallCount>;
  /** Register; idempotent. One call per target group. */
  register(targets: readonly Target[]): Promise<ElbCallCount>;
}

/** Time, so tests and the local cloud can drive it. */
export interface Clock {
  now(): Date;
  /** Waits (bounded waits for attachments to complete). */
  sleep(ms: number): Promise<void>;
}

/** Structured logging; every line of a workflow carries its instance id and workflow id. */
export interface Log {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  /** A log whose every line carries `keys` as well. */
  with(keys: Record<string, string>): Log;
}

export type MetricName =
  | 'EventsReceived'
  | 'WorkflowsSwept'
  | 'InstancesGuarded'
  | 'StepsLate'
  | 'OverdueWorkflows'
  | 'InvalidEvents'
  | 'IgnoredEvents'
  | 'UnmanagedInstancesSkipped'
  | 'InterruptionWarnings'
  | 'RebalanceRecommendations'
  | 'WorkflowsStarted'
  | 'WorkflowsCompleted'
  | 'TargetsDeregistered'
  | 'TargetsRegistered'
  | 'ReplacementsLaunched'
  | 'ReplacementLaunchFailures'
  | 'ElbApiCalls'
  | 'WriteConflicts';

/** Metrics we publish (CloudWatch EMF through Powertools in Lambda). */
export interface Metrics {
  count(name: MetricName, value?: number): void;
  /** Seconds from the first signal to the replacement serving. */
  handoffSeconds(seconds: number): void;
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

/**
 * The EC2 calls of the stateful handoff. Every mutation is idempotent: repeating it after it took
 * effect is a success (e.g. attaching a volume already attached to that instance at that device),
 * and every resource we create is found again by its ClientToken or its workflow tags.
 */
export interface StatefulResources {
  describeVolumes(volumeIds: readonly string[]): Promise<Map<string, VolumeFacts>>;
  describeInterfaces(interfaceIds: readonly string[]): Promise<Map<string, InterfaceFacts>>;
  /** `DeleteOnTermination=false` on the given block devices (by device name) and interface attachments. */
  keepOnTermination(
    instanceId: string,
    target: { deviceNames: string[]; attachmentIds: string[] },
  ): Promise<void>;
  tag(resourceIds: readonly string[], tags: Record<string, string>): Promise<void>;
  attachVolume(volumeId: string, instanceId: string, deviceName: string): Promise<void>;
  detachVolume(volumeId: string, instanceId: string): Promise<void>;
  attachInterface(networkInterfaceId: string, instanceId: string, deviceIndex: number): Promise<void>;
  detachInterface(attachmentId: string): Promise<void>;
  /** `AssignPrivateIpAddresses` with `AllowReassignment=true`: moves the IPs from wherever they are. */
  movePrivateIps(networkInterfaceId: string, privateIps: readonly string[]): Promise<void>;
  /**
   * `AssociateAddress` by `NetworkInterfaceId` + `PrivateIpAddress`, with `AllowReassociation=true`
   * (EC2 refuses an `InstanceId` once the instance has more than one interface).
   */
  moveElasticIp(allocationId: string, networkInterfaceId: string, privateIpAddress: string): Promise<void>;
  /** Finds the snapshot tagged for (workflow, volume), or creates it so tagged. */
  snapshotFor(volumeId: string, tags: Record<string, string>): Promise<SnapshotFacts>;
  describeSnapshots(snapshotIds: readonly string[]): Promise<Map<string, SnapshotFacts>>;
  /** `CreateVolume` from a snapshot, idempotent by ClientToken. */
  restoreVolume(request: {
    snapshotId: string;
    availabilityZone: string;
    volumeType?: string;
    clientToken: string;
    tags: Record<string, string>;
  }): Promise<VolumeFacts>;
  /** Subnets of a VPC, for a replacement that must move to another AZ. */
  subnetsOf(vpcId: string): Promise<SubnetFacts[]>;
}
