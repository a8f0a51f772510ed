/**
 * The ports the handoff talks through, and what the handoff is given: its dependencies and its
 * settings. The core imports no SDK: adapters in `src/aws` implement these over the AWS SDK v3, and
 * tests implement them over a stateful fake. The composition root (`src/aws/handoff-deps.ts`) builds
 * {@link HandoffDeps} from the configuration.
 */

import type {
  ElbCallCount,
  FleetRequest,
  FleetResult,
  InstanceFacts,
  InterfaceFacts,
  LaunchRequest,
  LaunchResult,
  SnapshotFacts,
  SubnetFacts,
  Target,
  UnusedReservation,
  VolumeFacts,
} from './facts.ts';
import type { GroupFleets } from './fleet-launch.ts';
import type { CarefulPolicies } from './group-policy.ts';
import type { InstanceRequirements, Policy } from './policy.ts';
import type { EventTrustSettings } from './trust.ts';
import type { OrphanRecord, Workflow, WorkflowStatus } from './workflow.ts';

export type * from './facts.ts';

/** The EC2 calls the workflow makes. Mutations are idempotent. */
export interface Compute {
  /**
   * One call for many ids. An instance EC2 no longer knows is absent from the map. `described`, if
   * given, gets the facts as soon as `DescribeInstances` answers, before the Elastic IPs of their
   * interfaces are looked up (a second request): tags, state and private IPs are final there,
   * `elasticIp` is not filled in yet.
   */
  describeInstances(
    instanceIds: readonly string[],
    options?: { described?: (facts: Map<string, InstanceFacts>) => void },
  ): Promise<Map<string, InstanceFacts>>;
  /** Live instances (pending, running, stopping, stopped) carrying every one of the tags. */
  instancesTagged(tags: Record<string, string>): Promise<InstanceFacts[]>;
  launch(request: LaunchRequest): Promise<LaunchResult>;
  /**
   * `CreateFleet` of type `instant`: the instances launched and an error per override that failed.
   * Capacity errors are results, not throws; the ClientToken makes a retry return the same instances.
   */
  launchFleet(request: FleetRequest): Promise<FleetResult>;
  /**
   * `TerminateInstances`, only if the instance carries `managedTag` (checked here as well as by IAM);
   * idempotent: an instance already leaving or gone is not an error. Returns whether it was asked to
   * terminate now (false: already leaving or gone).
   * @throws when the instance lacks the tag: nothing is terminated.
   */
  terminate(instanceId: string, managedTag: { key: string; value: string }): Promise<boolean>;
}

/** `type|az`, the key of a pool in the capacity signals and the pool memory. */
export type PoolKey = string;
export const poolKey = (pool: { instanceType: string; availabilityZone: string }): PoolKey =>
  `${pool.instanceType}|${pool.availabilityZone}`;

/**
 * What EC2 says about capacity, read off the critical path where it can be: each answer is cached
 * by the adapter. A signal the account may not read (e.g. placement scores denied) is unknown, not an error.
 */
export interface CapacitySignals {
  /** Active Reserved Instances not covering a running On-Demand instance. */
  unusedReservations(): Promise<UnusedReservation[]>;
  /**
   * Counts launches an RI now covers against the cached answer, so the next choice in this
   * container does not count the same RI again before the answer is read afresh.
   */
  reservationsUsed?(reservedInstancesId: string, count: number): void;
  /** Spot placement scores 1–10 per pool; empty when unknown. */
  placementScores(
    instanceTypes: readonly string[],
    availabilityZones: readonly string[],
  ): Promise<Map<PoolKey, number>>;
  /**
   * The instance types EC2 says meet a group's attribute requirements
   * (`GetInstanceTypesFromInstanceRequirements`), cached for the container's life and refreshed
   * off the critical path once stale.
   */
  instanceTypesFor(requirements: InstanceRequirements): Promise<string[]>;
  /** The latest Spot price (USD/hour) per pool. */
  spotPrices(
    instanceTypes: readonly string[],
    availabilityZones: readonly string[],
  ): Promise<Map<PoolKey, number>>;
}

/** Interruptions counted per pool (type × AZ), kept for a while: where Spot was reclaimed recently. */
export interface PoolMemory {
  /** Counts one interruption per entry (a pool may appear several times). */
  recordInterruptions(
    pools: readonly { instanceType: string; availabilityZone: string }[],
    at: Date,
  ): Promise<void>;
  /**
   * Each pool's interruption times (epoch ms) from `since` to `now`, the pools with none left out.
   * Reads only the pools interrupted since then, however many items the table holds.
   */
  interruptionsSince(since: Date, now: Date): Promise<Map<PoolKey, number[]>>;
}

/** What a target's health checks report (`DescribeTargetHealth`), e.g. `healthy`, `draining`, `unused`. */
export type TargetHealthState = 'initial' | 'healthy' | 'unhealthy' | 'unused' | 'draining' | 'unavailable';

/** A target group as an alarm names it (`targetgroup/<name>/<id>`), with its registrations' health. */
export interface TargetGroupHealth {
  targetGroupArn: string;
  targetType: 'instance' | 'ip';
  targets: { id: string; port: number; state: TargetHealthState }[];
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
  ): Promise<{ byInstance: Map<string, Target[]>; targetGroups?: string[] } & ElbCallCount>;
  /** Deregister; idempotent (a target not registered is not an error). One call per target group. */
  deregister(targets: readonly Target[]): Promise<ElbCallCount>;
  /** Register; idempotent. One call per target group. */
  register(targets: readonly Target[]): Promise<ElbCallCount>;
  /**
   * The health of the given targets, keyed by {@link targetKey}; one `DescribeTargetHealth` per
   * target group. A target the group does not know reports `unused`.
   */
  targetHealth(
    targets: readonly Target[],
  ): Promise<{ health: Map<string, TargetHealthState> } & ElbCallCount>;
  /**
   * Every registration of the target group whose ARN ends in `suffix` (the `TargetGroup` dimension
   * of a CloudWatch metric: `targetgroup/<name>/<id>`), with its health; undefined if none does.
   */
  targetGroupHealth(suffix: string): Promise<TargetGroupHealth | undefined>;
}

/**
 * Where each managed instance was last seen registered (`instance` targets by id, `ip` targets by
 * its private IPs), kept by the sweep: a warning drains from it at once, before the full discovery
 * confirms. A hint, never the truth: the handoff checks every entry against what EC2 says.
 */
export interface RegistrationIndex {
  /**
   * The entries of the given instances, in one round trip. An instance absent from the map has no
   * entry (never indexed, or expired): it is drained after discovery, as without the index.
   */
  read(instanceIds: readonly string[]): Promise<Map<string, RegistrationEntry>>;
  /** Records where each instance is registered now; each entry expires at `expiresAt`, epoch seconds. */
  write(byInstance: ReadonlyMap<string, readonly Target[]>, expiresAt: number): Promise<void>;
}

/** Where an instance was seen registered, until when the entry holds (epoch seconds). */
export interface RegistrationEntry {
  targets: Target[];
  expiresAt: number;
}

/** The key of a target in {@link LoadBalancing.targetHealth}'s answer. */
export const targetKey = (target: Pick<Target, 'targetGroupArn' | 'id' | 'port'>): string =>
  `${target.targetGroupArn}|${target.id}|${target.port}`;

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

/**
 * The metrics the code publishes. `infra/metrics.cjs` lists them with their unit and meaning for the
 * alarms and the dashboard; a test keeps the two in step (a name here must be there, unplanned).
 */
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
  | 'WorkflowsFailed'
  | 'TargetsDeregistered'
  | 'DrainsLate'
  | 'TargetsRegistered'
  | 'ReplacementsLaunched'
  | 'SpotReplacementsLaunched'
  | 'OnDemandReplacementsLaunched'
  | 'ReplacementLaunchFailures'
  | 'ElbApiCalls'
  | 'WriteConflicts'
  /** Not this deployment's own (size, depth, account, Region): nothing done. */
  | 'RefusedEvents'
  /** Dated far from now: only an existing workflow may advance. */
  | 'UntimelyEvents'
  /** For an instance EC2 does not know, with no workflow: nothing written. */
  | 'UnknownInstanceEvents'
  /** Queue records reported back as batch item failures (delivered again after the visibility timeout). */
  | 'RecordsRetried'
  /** Direct delivery: AWS throttled the work after the workflow was recorded, and the sweep resumes it. */
  | 'ThrottledWorkLeftToSweep'
  | 'EventToDrainSeconds'
  | 'EventToLaunchSeconds'
  | 'EventToRegistrationSeconds'
  | 'HandoffSeconds'
  | 'CarefulReplacesStarted'
  | 'OldInstancesTerminated'
  | 'ChurnBudgetExceeded'
  | 'StandbysPromoted'
  | 'StandbysRetired'
  | 'HealingAlarms'
  | 'InstancesHealed'
  | 'HealingSkippedCooldown'
  | 'HealingSuspended';

/** The metrics that are durations, in seconds. */
export type DurationMetricName = Extract<MetricName, `${string}Seconds`>;
/** The metrics that are counts. */
export type CountMetricName = Exclude<MetricName, DurationMetricName>;

/** Metrics we publish (CloudWatch EMF through Powertools in Lambda). */
export interface Metrics {
  count(name: CountMetricName, value?: number): void;
  /** A duration, in seconds. */
  seconds(name: DurationMetricName, seconds: number): void;
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

/** Where workflows live. Every write is conditional: nothing overwrites a concurrent writer. */
export interface WorkflowStore {
  get(workflowId: string): Promise<Workflow | undefined>;
  /** Writes a new workflow (version 1). False if one with that id exists already. */
  create(workflow: Workflow): Promise<boolean>;
  /**
   * Writes `workflow` if the stored version is `workflow.version - 1`. False when another
   * invocation wrote in between: re-read and decide again.
   */
  update(workflow: Workflow): Promise<boolean>;
  /**
   * Records that `replacementId` replaces the instance of `workflowId`; idempotent. The link expires
   * (DynamoDB TTL) at `expiresAt`, epoch seconds.
   */
  linkReplacement(replacementId: string, workflowId: string, expiresAt: number): Promise<void>;
  /** The workflow a replacement belongs to. */
  workflowOfReplacement(replacementId: string): Promise<string | undefined>;
  /** Workflows, newest first (for `handoff status`). */
  list(options?: { status?: WorkflowStatus; limit?: number }): Promise<Workflow[]>;
  /**
   * The in-progress workflows, oldest first, a page at a time (for the sweep). Reads only open
   * workflows, however many finished ones the store holds.
   */
  openWorkflows(pageSize?: number): AsyncIterable<Workflow[]>;
  /**
   * The completed workflows whose replacement is an On-Demand fallback (for the revert to Spot),
   * newest first. Reads only them, however many other workflows the store holds.
   */
  onDemandFallbacks(): Promise<Workflow[]>;
  /**
   * Records that `instanceId` is being healed at `at`, unless it was within `cooldownMs` before:
   * true when recorded (heal it), false when a heal is still cooling down. A conditional write, so
   * two invocations for the same flapping alarm heal once. The record expires at `expiresAt`.
   */
  claimHeal(
    instanceId: string,
    heal: { at: Date; cooldownMs: number; alarmName: string; expiresAt: number },
  ): Promise<boolean>;
  /** Records what the sweep did with an orphan (item `orphan#<instanceId>`); idempotent. */
  recordOrphan(orphan: OrphanRecord): Promise<void>;
  /** The orphans recorded, newest first (for `handoff report`). */
  orphans(): Promise<OrphanRecord[]>;
}

/**
 * The tag keys the handoff reads and writes. They reach the core as values: the composition root
 * builds them from the configuration (`src/config.ts`), where the two opt-in keys are configurable.
 */
export interface HandoffTags {
  /** Opts an instance in; its value must be `true`. */
  managed: string;
  /** Names the instance's group (its value); the group's policy applies to it. */
  group: string;
  /** Asks for the stateful handoff; its value must be `true`. */
  stateful: string;
  /** On a replacement: the instance it replaces. */
  replaces: string;
  /** On a replacement, and on every resource and snapshot of a workflow: the workflow's id. */
  workflow: string;
  /** On a stateful replacement: `ready` once everything has moved. */
  ready: string;
  /** On a resource that stayed behind: why. */
  leftAvailable: string;
  /** On a snapshot: the volume it was taken of. */
  sourceVolume: string;
  /** On a volume restored in another AZ: the volume it was restored from. */
  restoredFrom: string;
  /** On a volume that moved to another AZ by snapshot: the volume restored from it. */
  migratedTo: string;
  /** On every instance of a group's fleet request: the request's token (a retry claims its share by it). */
  fleetToken: string;
  /** Per-instance options of the stateful handoff (documented in the README). */
  options: {
    volumes: string;
    networkInterfaces: string;
    privateIps: string;
    elasticIps: string;
    primaryIp: string;
    rootVolume: string;
  };
}

/** What the handoff is told, read once from the configuration. */
export interface HandoffSettings {
  tags: HandoffTags;
  /**
   * Per group: what a rebalance recommendation does (`ignore`, `prelaunch`, `replace`), how a
   * standby ends, the churn budget.
   */
  policies: CarefulPolicies;
  /** Alarm-driven healing. */
  healing: HealingSettings;
  /** Days a finished workflow (and a replacement's link to it) is kept. */
  retentionDays: number;
  /** How long a handover waits within the invocation for attachments to complete (then: the sweep). */
  attachWaitMs: number;
  /** How long after the old instance stops the handover and registration are due. */
  handoverTimeoutMs: number;
  /** Which events are this deployment's own, and how near now they must be dated. */
  events: EventTrustSettings;
  /** Replacement policies per group; without one, every instance keeps its own type and subnet. */
  policy?: Policy;
  /** The tag key whose value names an instance's group (`spot-handoff:group`). */
  groupTagKey?: string;
  /**
   * How long a fleet request may be in flight (the invocation timeout): a workflow that finds its
   * fleet recorded but no instance tagged with its token after this long launches anew.
   */
  fleetClaimAfterMs?: number;
}

export interface HealingSettings {
  /** Only alarms whose name starts with this heal. */
  alarmPrefix: string;
  /** An instance is healed at most once in this time, however often its alarm fires. */
  cooldownMs: number;
  /** At most this share of a group healing at once (at least one); beyond it healing stops and alerts. */
  budgetPercent: number;
}

/** Everything the handoff talks through, and its settings. */
export interface HandoffDeps {
  compute: Compute;
  loadBalancing: LoadBalancing;
  stateful: StatefulResources;
  store: WorkflowStore;
  /** Where managed instances serve (the sweep keeps it); absent, every drain waits for discovery. */
  registrations?: RegistrationIndex;
  /** Capacity signals and pool memory; absent, groups launch without RIs, scores, prices or memory. */
  capacity?: CapacitySignals;
  poolMemory?: PoolMemory;
  /** The batch's fleet launches, per group (set by the batch, see `fleet-launch.ts`). */
  fleets?: GroupFleets;
  clock: Clock;
  log: Log;
  metrics: Metrics;
  settings: HandoffSettings;
}
