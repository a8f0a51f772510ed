import type { InstanceState, RecordedState, Target } from './facts.ts';

/**
 * The record of one handoff: one workflow per interrupted instance, stored in DynamoDB and
 * written only with conditional writes (optimistic concurrency on `version`).
 */

export type WorkflowStatus =
  /** Work is left to do. */
  | 'in-progress'
  /** A rebalance recommendation was handled: the replacement serves beside the old instance, which still runs. */
  | 'standby'
  /** Nothing is left to do. `outcome` says how it ended. */
  | 'completed';

export type WorkflowOutcome =
  /** The replacement runs and serves in the old instance's target groups. */
  | 'replaced'
  /** Drained only: the instance belongs to an Auto Scaling group, which replaces it. */
  | 'asg-managed'
  /** Drained only: the instance has no launch template to launch a replacement from. */
  | 'not-replaceable'
  /** EC2 no longer knows the instance: nothing to drain or replace. */
  | 'instance-gone'
  /** The standby outlived `standby.maxAgeMinutes` without a warning and was drained and terminated; the old instance serves on. */
  | 'standby-retired';

export type StepName =
  | 'detected'
  | 'targets-found'
  | 'protect'
  | 'root-snapshot'
  | 'drain'
  | 'launch'
  | 'replacement-running'
  | 'handover'
  | 'register'
  | 'old-instance-stopped'
  /** Careful replace: the replacement passed health checks in every target group of the old instance. */
  | 'healthy'
  /** Careful replace: the old instance, drained, was terminated by us. */
  | 'terminated-old'
  /** A standby came to its end (promoted or retired; the detail says why). */
  | 'standby-end'
  /** A retired standby, drained, was terminated. */
  | 'terminated-replacement'
  | 'completed';

export interface Step {
  name: StepName;
  status: 'done' | 'failed' | 'skipped';
  /** ISO time the step was recorded. */
  at: string;
  /** Milliseconds since the workflow started. */
  elapsedMs: number;
  detail?: string;
  /** When the step was due, where one applies (see {@link Deadlines}). */
  deadline?: string;
  /** Recorded after its deadline. */
  late?: boolean;
}

/**
 * When steps are due. Drain and launch are due when EC2 reclaims the instance (the warning's time
 * plus two minutes); the handover and the registration within the handover timeout of the old
 * instance stopping.
 */
export interface Deadlines {
  reclaimAt?: string;
  handoverBy?: string;
}

export type SignalKind = 'rebalance' | 'warning' | 'state-change' | 'sweep' | 'replace';

/**
 * Why a workflow exists. `interruption` (the default when absent): EC2 takes the instance back.
 * Every other kind is a careful replace, started while the old instance still runs well: the
 * replacement is launched, runs, is registered and healthy in every target group of the old
 * instance, and only then is the old one drained and terminated.
 */
export type WorkflowKind =
  | 'interruption'
  | 'rebalance-replace'
  | 'pool-reclaim'
  | 'revert-to-spot'
  | 'unhealthy';

/** The kinds that replace carefully (see {@link WorkflowKind}). */
export type CarefulKind = Exclude<WorkflowKind, 'interruption'>;

/** Where a careful replace stands (absent on an interruption that was never promoted). */
export interface CarefulReplace {
  /** Why it was started, in words (the alarm, the rebalance recommendation, the standby's end…). */
  reason: string;
  requestedAt: string;
  /**
   * When it may launch: at once for most kinds; a `rebalance-replace` waits for its group's churn
   * budget (absent while over budget, `overBudgetSince` says since when).
   */
  admittedAt?: string;
  overBudgetSince?: string;
  /** The replacement passed health checks in every target group of the old instance. */
  healthyAt?: string;
  /** The old instance's targets finished draining. */
  drainedAt?: string;
  /** We terminated the old instance. */
  terminatedOldAt?: string;
}

/** How a standby (a pre-launched replacement beside a still running instance) ended. */
export interface StandbyEnd {
  /** `promote`: the old instance is drained and terminated; `retire`: the standby is. */
  action: 'promote' | 'retire';
  /** Why, in words (its age against `standby.maxAgeMinutes`, the policy). */
  reason: string;
  at: string;
  /** Retire: the standby's registrations were deregistered, and when they finished draining. */
  deregisteredAt?: string;
  drainedAt?: string;
  /** Retire: the standby we terminated. */
  terminatedReplacementId?: string;
  terminatedAt?: string;
}

export interface Replacement {
  /** Launch attempt; a capacity failure is recorded and the next try uses the next attempt. */
  attempt: number;
  /**
   * The replacement's own workflow, when it was warned (or reclaimed) before this workflow
   * registered it: this one then registers nothing, and that one registers the replacement's
   * replacement where this one would have registered.
   */
  reclaimedBy?: string;
  clientToken: string;
  instanceId?: string;
  state?: InstanceState;
  availabilityZone?: string;
  subnetId?: string;
  privateIpAddress?: string;
  lastError?: { code: string; message: string; at: string };
  /** The pool the replacement launched in. */
  pool?: { instanceType: string; availabilityZone: string; subnetId: string };
  /** `reserved`: On-Demand, covered by an unused Reserved Instance. */
  capacityType?: CapacityType;
  /** Why this pool and capacity type, in words. */
  choiceReason?: string;
  /** USD/hour of the replacement: the Spot price, the On-Demand price, or 0 for a prepaid RI. */
  hourlyPrice?: number;
  /** USD/hour On-Demand of the replacement's type, to compare with. */
  onDemandPrice?: number;
  /** The pools the choice avoided after a cluster of interruptions there, each until when. */
  avoidedPools?: { instanceType: string; availabilityZone: string; until: string }[];
  /**
   * The fleet request the replacement comes from, recorded before the request is made: a retry
   * claims its share of the instances tagged with the token, never launching a second one.
   */
  fleet?: { token: string; members: string[]; requestedAt: string };
  /**
   * A launch in one of its group's pools that a fleet cannot carry (a kept primary IP, a root
   * volume from a snapshot, a migration), recorded before its RunInstances: a retry sends it again
   * first, with the same ClientToken, so EC2 answers with the instance it launched, if any.
   */
  launching?: PoolLaunch;
}

/** One RunInstances of a grouped launch: the pool, the capacity asked for, and the token. */
export interface PoolLaunch {
  clientToken: string;
  pool: { instanceType: string; availabilityZone: string; subnetId: string };
  market: 'reserved' | 'spot' | 'on-demand';
}

export type CapacityType = 'reserved' | 'spot' | 'on-demand';

/** The old instance as it was when the workflow started: enough to replace it after it is gone. */
export interface InstanceRecord {
  instanceType: string;
  availabilityZone: string;
  subnetId?: string;
  vpcId?: string;
  privateIpAddress?: string;
  privateIps: string[];
  lifecycle?: string;
  launchTemplate?: { id: string; version: string };
  autoScalingGroup?: string;
  /** Tags the replacement inherits (managed-by-AWS `aws:` tags excluded). */
  tags: Record<string, string>;
}

/** Where a resource of a stateful handoff stands. */
export type ResourceStatus =
  /** Recorded and kept on termination; still where the old instance left it. */
  | 'protected'
  /** A move was requested (attaching, detaching, associating); the next pass verifies it. */
  | 'moving'
  /** On the replacement, verified. */
  | 'attached'
  /** Kept, available, tagged with its workflow; `reason` says why it did not move. */
  | 'left-available'
  /**
   * EC2 deleted it with the old instance before it could be protected (the interruption was first
   * seen when the instance was already shutting down); `reason` says so.
   */
  | 'gone';

interface ResourceRecord {
  status: ResourceStatus;
  reason?: string;
  /** When it was verified on the replacement. */
  movedAt?: string;
}

export interface VolumeRecord extends ResourceRecord {
  kind: 'volume';
  volumeId: string;
  deviceName: string;
  availabilityZone: string;
  /** Migration to another AZ: the snapshot taken of `volumeId` and the volume restored from it. */
  snapshotId?: string;
  restoredVolumeId?: string;
}

/**
 * The root volume, carried by snapshot (`spot-handoff:root-volume=snapshot`): once the old instance
 * has stopped, its root volume is snapshotted and the replacement is launched from the snapshot.
 * The old root volume is kept, available.
 */
export interface RootVolumeRecord extends ResourceRecord {
  kind: 'root-volume';
  volumeId: string;
  deviceName: string;
  snapshotId?: string;
  snapshotState?: string;
}

export interface InterfaceRecord extends ResourceRecord {
  kind: 'network-interface';
  networkInterfaceId: string;
  deviceIndex: number;
  subnetId: string;
}

export interface PrivateIpRecord extends ResourceRecord {
  kind: 'private-ip';
  privateIpAddress: string;
  subnetId: string;
}

export interface ElasticIpRecord extends ResourceRecord {
  kind: 'elastic-ip';
  allocationId: string;
  publicIp: string;
  /** The old instance's private IP it was associated with. */
  privateIpAddress: string;
}

export type HandoverResource =
  | VolumeRecord
  | RootVolumeRecord
  | InterfaceRecord
  | PrivateIpRecord
  | ElasticIpRecord;

export interface StatefulOptions {
  volumes: boolean;
  networkInterfaces: boolean;
  privateIps: boolean;
  elasticIps: boolean;
  /** `keep`: the replacement is launched with the old primary private IP once EC2 releases it. */
  primaryIp: 'new' | 'keep';
  /** `snapshot`: the replacement's root volume is made from a snapshot of the old one (launch waits for it). */
  rootVolume: 'new' | 'snapshot';
}

/** The stateful part of a workflow: what moves from the old instance to the replacement. */
export interface Handover {
  options: StatefulOptions;
  /** The AZ the volumes and interfaces are bound to. */
  availabilityZone: string;
  resources: HandoverResource[];
  protectedAt?: string;
  /** The replacement had to launch in another AZ: volumes move by snapshot, interfaces stay. */
  migration?: { subnetId: string; availabilityZone: string; reason: string };
  /** When every resource was accounted for and the replacement was tagged ready. */
  readyAt?: string;
}

export interface Workflow {
  workflowId: string;
  instanceId: string;
  /** Incremented by every write; a write succeeds only if the stored version is the one read. */
  version: number;
  status: WorkflowStatus;
  outcome?: WorkflowOutcome;
  /** Why the workflow ended the way it did, or what it waits for, in words. */
  reason?: string;
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
  /** Epoch seconds; DynamoDB TTL deletes finished workflows after the retention period. */
  expiresAt?: number;
  /** Started by a replayed event (source `spot-handoff.replay`), not by EC2. */
  replayed?: boolean;
  /** Event ids seen, so duplicates are recognised. */
  eventIds: string[];
  signals: {
    rebalance: boolean;
    warning: boolean;
    instanceAction?: string;
    /** EventBridge `time` of the earliest signal: the durations to drain, launch and registration count from it. */
    firstEventAt?: string;
    /** When the warning was counted in the pool memory (once per workflow, grouped or not). */
    poolCountedAt?: string;
  };
  instance?: InstanceRecord;
  /** The old instance's registrations, found before it was drained. */
  targets?: Target[];
  drained: boolean;
  replacement?: Replacement;
  /** The replacement's registrations, once made. */
  registered?: Target[];
  /** Last state EC2 reported for the old instance. */
  oldInstanceState?: RecordedState;
  elbCalls: number;
  steps: Step[];
  deadlines?: Deadlines;
  /** Present for instances tagged for the stateful handoff. */
  handover?: Handover;
  /** Why the workflow exists; absent means `interruption`. */
  kind?: WorkflowKind;
  /** The old instance's group (its `spot-handoff:group` tag), if it has one. */
  group?: string;
  /** Present when the replacement goes in before the old instance goes out (see {@link WorkflowKind}). */
  careful?: CarefulReplace;
  /** Present once a standby came to its end. */
  standbyEnd?: StandbyEnd;
  /**
   * Present when the instance is itself a replacement, warned (or reclaimed) on its own: the
   * workflow that launched it. Until that one has finished (or this instance is leaving), this one
   * only drains: it launches and moves state only once it is released (see `batch.ts`).
   */
  parent?: ParentWorkflow;
}

/** The workflow that launched the instance of a replacement's own workflow. */
export interface ParentWorkflow {
  workflowId: string;
  /** When this workflow was released to replace its instance and move what the instance holds then. */
  releasedAt?: string;
  /** The targets the parent meant for this instance but left unregistered, its reclaim being known. */
  inheritedTargets?: Target[];
}

/** The kind of a workflow, `interruption` when the record predates kinds. */
export const kindOf = (workflow: Pick<Workflow, 'kind'>): WorkflowKind => workflow.kind ?? 'interruption';
/**
 * An instance a group's fleet launched that no workflow linked (its invocation died between the
 * fleet request and the record, and no retry claimed it): the sweep adopts it for an open workflow
 * of its group that lacks a replacement, or terminates it.
 */
export interface OrphanRecord {
  instanceId: string;
  action: 'adopted' | 'terminated';
  /** The workflow that adopted it. */
  workflowId?: string;
  group?: string;
  fleetToken: string;
  reason: string;
  at: string;
  /** Epoch seconds; DynamoDB TTL. */
  expiresAt: number;
}

export const workflowIdFor = (instanceId: string): string => `wf-${instanceId}`;

/** A finished workflow whose replacement is an On-Demand fallback: the revert to Spot may replace it. */
export const isOnDemandFallback = (workflow: Workflow): boolean =>
  workflow.status === 'completed' &&
  workflow.outcome === 'replaced' &&
  workflow.replacement?.capacityType === 'on-demand' &&
  workflow.replacement.instanceId !== undefined;
