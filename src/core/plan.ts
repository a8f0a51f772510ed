import type { Signal } from './events.ts';
import { hasReleasedResources, type InstanceFacts, isLeavingOrGone, type Target } from './facts.ts';
import { type CarefulPolicy, policyOf } from './group-policy.ts';
import type { HandoffSettings, HandoffTags } from './ports.ts';
import { accountedFor, rootSnapshotReady } from './stateful.ts';
import type { InstanceRecord, StandbyEnd, Workflow, WorkflowOutcome } from './workflow.ts';

/**
 * Pure decisions: from the workflow record and what EC2 says now, what is left to do.
 * Nothing here performs I/O, so every rule is tested directly.
 */

/** `StateReason.Code` of an instance EC2 interrupted: terminated, or stopped/hibernated. */
export const SPOT_INTERRUPTION_REASONS: ReadonlySet<string> = new Set([
  'Server.SpotInstanceTermination',
  'Server.SpotInstanceShutdown',
]);

/** The settings the decisions read. */
export type PlanSettings = Pick<HandoffSettings, 'policies'> & {
  tags: Pick<HandoffTags, 'group' | 'stateful'>;
};

/** The group an instance belongs to, by its group tag. */
export const groupOf = (
  facts: Pick<InstanceFacts, 'tags'> | undefined,
  tags: Pick<HandoffTags, 'group'>,
): string | undefined => facts?.tags[tags.group] || undefined;

/**
 * What a rebalance recommendation does to this instance: its group's policy. A stateful instance
 * moves its state only once it stops, so a careful replace would wait forever: it pre-launches.
 */
export function rebalancePolicyOf(
  facts: Pick<InstanceFacts, 'tags'> | undefined,
  settings: PlanSettings,
): CarefulPolicy['rebalance'] {
  const policy = policyOf(settings.policies, groupOf(facts, settings.tags)).rebalance;
  return policy === 'replace' && isStateful(facts, settings.tags) ? 'prelaunch' : policy;
}

/** Tagged for the stateful handoff. */
export const isStateful = (
  facts: Pick<InstanceFacts, 'tags'> | undefined,
  tags: Pick<HandoffTags, 'stateful'>,
): boolean => facts?.tags[tags.stateful] === 'true';

/** A state change that shows EC2 interrupted a Spot instance (the warning may be late or lost). */
export const showsSpotInterruption = (facts: InstanceFacts | undefined): boolean =>
  facts !== undefined &&
  isLeavingOrGone(facts.state) &&
  SPOT_INTERRUPTION_REASONS.has(facts.stateReason ?? '');

/** Does this signal start a workflow for an instance that has none? */
export function startsWorkflow(
  signal: Signal,
  facts: InstanceFacts | undefined,
  settings: PlanSettings,
): boolean {
  switch (signal.kind) {
    case 'warning':
      return true;
    case 'rebalance':
      return rebalancePolicyOf(facts, settings) !== 'ignore';
    case 'state-change':
      return showsSpotInterruption(facts);
    case 'sweep':
      return false;
    case 'replace':
      return true;
  }
}

/** EC2 reclaims a Spot instance two minutes after its interruption warning (hibernation: at once). */
export const WARNING_LEAD_MS = 120_000;

/** The deadline of a step, if one applies. */
export function deadlineOf(workflow: Workflow, step: string): string | undefined {
  if (step === 'drain' || step === 'launch') return workflow.deadlines?.reclaimAt;
  if (step === 'handover' || step === 'register') return workflow.deadlines?.handoverBy;
  return undefined;
}

/** The deadline an open workflow has passed, if any: the step it waits for is overdue. */
export function overdue(workflow: Workflow, now: Date): string | undefined {
  if (workflow.status !== 'in-progress') return undefined;
  const done = new Set(workflow.steps.filter((s) => s.status === 'done').map((s) => s.name));
  const pending = (['drain', 'launch', 'handover', 'register'] as const).filter(
    (name) => !done.has(name) && (name !== 'handover' || workflow.handover !== undefined),
  );
  return pending
    .map((name) => ({ name, deadline: deadlineOf(workflow, name) }))
    .find(({ deadline }) => deadline !== undefined && Date.parse(deadline) < now.getTime())?.name;
}

/** Folds signals into the record: event ids seen and what has been announced. */
export function absorb(workflow: Workflow, signals: readonly Signal[], settings: PlanSettings): void {
  for (const signal of signals) {
    if (signal.kind === 'sweep') continue;
    if (!workflow.eventIds.includes(signal.eventId)) workflow.eventIds.push(signal.eventId);
    const first = workflow.signals.firstEventAt;
    if (first === undefined || Date.parse(signal.time) < Date.parse(first))
      workflow.signals.firstEventAt = signal.time;
    if (signal.kind === 'warning') {
      workflow.signals.warning = true;
      workflow.signals.instanceAction = signal.instanceAction;
      // Hibernation has no lead time (AWS documents none): EC2 may reclaim the instance at once.
      const lead = signal.instanceAction === 'hibernate' ? 0 : WARNING_LEAD_MS;
      const reclaimAt = new Date(Date.parse(signal.time) + lead).toISOString();
      workflow.deadlines = { ...workflow.deadlines, reclaimAt: workflow.deadlines?.reclaimAt ?? reclaimAt };
    }
    // At most one rebalance replacement per instance: a workflow that already had one (a standby
    // that ended, or a careful replace) ignores further recommendations.
    if (
      signal.kind === 'rebalance' &&
      workflow.careful === undefined &&
      workflow.standbyEnd === undefined &&
      wantsStandby(workflow, settings)
    )
      workflow.signals.rebalance = true;
  }
}

/** A rebalance recommendation pre-launches a standby (stateful instances: also under `replace`). */
function wantsStandby(workflow: Workflow, settings: PlanSettings): boolean {
  const policy = policyOf(settings.policies, workflow.group).rebalance;
  return policy === 'prelaunch' || (policy === 'replace' && workflow.handover !== undefined);
}

/**
 * A share of a group may be busy at once: `busy` others already are; may one more start? At least
 * one instance of any group may, so a small group is never locked out.
 */
export function withinBudget(busy: number, groupSize: number, percent: number): boolean {
  return busy < Math.max(1, Math.floor((groupSize * percent) / 100));
}

/** When a standby began serving beside the old instance: its registration. */
export function standbySince(workflow: Workflow): string {
  return workflow.steps.find((s) => s.name === 'register' && s.status === 'done')?.at ?? workflow.startedAt;
}

/**
 * Whether a standby has come to its end, and how: a pre-launched replacement that has served beside
 * the old instance for `standby.maxAgeMinutes` without a warning is promoted or retired, by policy.
 */
export function standbyEndDue(
  workflow: Workflow,
  policy: CarefulPolicy,
  now: Date,
): Pick<StandbyEnd, 'action' | 'reason'> | undefined {
  if (workflow.status !== 'standby' || workflow.standbyEnd || workflow.careful) return undefined;
  if (workflow.signals.warning || !workflow.replacement?.instanceId || !workflow.registered) return undefined;
  const ageMs = now.getTime() - Date.parse(standbySince(workflow));
  const { maxAgeMinutes, end } = policy.standby;
  if (ageMs < maxAgeMinutes * 60_000) return undefined;
  const age = `served ${Math.floor(ageMs / 60_000)} min beside ${workflow.instanceId} without an interruption warning (standby.maxAgeMinutes ${maxAgeMinutes})`;
  return end === 'promote'
    ? {
        action: 'promote',
        reason: `Standby ${workflow.replacement.instanceId} ${age}; policy promotes it: the old instance is drained and terminated.`,
      }
    : {
        action: 'retire',
        reason: `Standby ${workflow.replacement.instanceId} ${age}; policy retires it: it is drained and terminated, the old instance serves on.`,
      };
}

/** The record of the old instance: what a replacement needs once the old instance is gone. */
export function instanceRecord(facts: InstanceFacts): InstanceRecord {
  const tags = Object.fromEntries(Object.entries(facts.tags).filter(([key]) => !key.startsWith('aws:')));
  const privateIps = facts.networkInterfaces.flatMap((eni) =>
    eni.privateIps.map((ip) => ip.privateIpAddress),
  );
  return {
    instanceType: facts.instanceType,
    availabilityZone: facts.availabilityZone,
    subnetId: facts.subnetId,
    vpcId: facts.vpcId,
    privateIpAddress: facts.privateIpAddress,
    privateIps: privateIps.length > 0 ? privateIps : facts.privateIpAddress ? [facts.privateIpAddress] : [],
    lifecycle: facts.lifecycle,
    launchTemplate: facts.launchTemplate,
    autoScalingGroup: facts.tags['aws:autoscaling:groupName'],
    tags,
  };
}

export type Replaceability =
  | { replaceable: true }
  | {
      replaceable: false;
      outcome: Extract<WorkflowOutcome, 'asg-managed' | 'not-replaceable'>;
      reason: string;
    };

/** Whether we launch the replacement, or why not. */
export function replaceability(instance: InstanceRecord): Replaceability {
  if (instance.autoScalingGroup) {
    return {
      replaceable: false,
      outcome: 'asg-managed',
      reason: `Auto Scaling group ${instance.autoScalingGroup} replaces its own instances; drained only.`,
    };
  }
  if (!instance.launchTemplate) {
    return {
      replaceable: false,
      outcome: 'not-replaceable',
      reason:
        'The instance was not launched from a launch template, so there is nothing to launch a replacement from; drained only.',
    };
  }
  if (!instance.subnetId) {
    return {
      replaceable: false,
      outcome: 'not-replaceable',
      reason: 'The instance has no subnet (EC2-Classic?); drained only.',
    };
  }
  return { replaceable: true };
}

/** The ClientToken of a launch attempt: the same workflow and attempt always launch the same instance. */
export const clientTokenFor = (workflowId: string, attempt: number): string => `${workflowId}-${attempt}`;

/** Tags of the replacement: the old instance's own tags, plus where it came from. */
export function replacementTags(workflow: Workflow, tags: HandoffTags): Record<string, string> {
  return { ...workflow.instance?.tags, ...bookkeepingTags(workflow, tags) };
}

/** Where a replacement came from: the only tags written on an instance after its launch. */
export function bookkeepingTags(workflow: Workflow, tags: HandoffTags): Record<string, string> {
  return { [tags.replaces]: workflow.instanceId, [tags.workflow]: workflow.workflowId };
}

/**
 * Where the replacement registers: the same target groups and ports. An `ip` target of the old
 * primary IP becomes the replacement's primary IP; an IP the replacement now holds (moved by the
 * stateful handoff) stays; any other IP target cannot be carried over and is reported.
 */
export function replacementTargets(
  workflow: Workflow,
  replacement: InstanceFacts,
): { targets: Target[]; notCarried: Target[] } {
  const replacementIps = new Set(
    replacement.networkInterfaces.flatMap((eni) => eni.privateIps.map((ip) => ip.privateIpAddress)),
  );
  if (replacement.privateIpAddress) replacementIps.add(replacement.privateIpAddress);
  const targets: Target[] = [];
  const notCarried: Target[] = [];
  for (const target of workflow.targets ?? []) {
    if (target.targetType === 'instance') {
      targets.push({ ...target, id: replacement.instanceId });
    } else if (replacementIps.has(target.id)) {
      targets.push(target);
    } else if (target.id === workflow.instance?.privateIpAddress && replacement.privateIpAddress) {
      targets.push({ ...target, id: replacement.privateIpAddress });
    } else {
      notCarried.push(target);
    }
  }
  const unique = new Map(targets.map((t) => [`${t.targetGroupArn}|${t.id}|${t.port}`, t]));
  return { targets: [...unique.values()], notCarried };
}

export interface Plan {
  /** Find the old instance's registrations (before anything drains it). */
  findTargets: boolean;
  /** Stateful: keep what moves on termination and tag it, before anything else. */
  protect: boolean;
  /** Stateful: move what is ready to move to the running replacement. */
  handOver: boolean;
  /** Stateful with the root volume carried: snapshot it once the old instance has stopped. */
  snapshotRoot: boolean;
  drain: boolean;
  launch: boolean;
  register: boolean;
  /** Careful replace: see whether the registered replacement passes health checks everywhere. */
  checkHealthy: boolean;
  /** Careful replace: terminate the drained old instance once its targets finished draining. */
  terminateOld: boolean;
  /** A retiring standby: drain it, then terminate it once drained. */
  retireStandby: boolean;
}

export interface Situation {
  workflow: Workflow;
  /** The old instance as EC2 reports it now; undefined when EC2 no longer knows it. */
  old: InstanceFacts | undefined;
  replacement: InstanceFacts | undefined;
}

/**
 * Drain once EC2 has announced or begun taking the instance back, or (careful replace) once the
 * replacement is healthy in every target group; never on a rebalance alone.
 */
export const wantsDrain = (workflow: Workflow): boolean =>
  workflow.signals.warning ||
  isLeavingOrGone(workflow.oldInstanceState) ||
  workflow.careful?.healthyAt !== undefined;

export const wantsReplacement = (workflow: Workflow): boolean =>
  workflow.signals.rebalance ||
  workflow.signals.warning ||
  isLeavingOrGone(workflow.oldInstanceState) ||
  workflow.careful?.admittedAt !== undefined;

/** A standby being retired (drained, not yet terminated). */
const retiring = (workflow: Workflow): boolean =>
  workflow.standbyEnd?.action === 'retire' && workflow.standbyEnd.terminatedAt === undefined;

/** A careful replace whose old instance still runs (EC2 has not begun taking it back). */
const carefulWithOldRunning = (workflow: Workflow): boolean =>
  workflow.careful !== undefined && !workflow.signals.warning && !isLeavingOrGone(workflow.oldInstanceState);

/** What is left to do. */
export function planNext({ workflow, old, replacement }: Situation): Plan {
  const canReplace = workflow.instance !== undefined && replaceability(workflow.instance).replaceable;
  const hasTargets = workflow.targets !== undefined;
  const replacementRunning = replacement?.state === 'running';
  const handover = workflow.handover;
  return {
    findTargets: !hasTargets && old !== undefined,
    protect: handover !== undefined && handover.protectedAt === undefined && old !== undefined,
    drain:
      workflow.instance !== undefined &&
      wantsDrain(workflow) &&
      !workflow.drained &&
      (hasTargets || old === undefined),
    launch:
      canReplace &&
      wantsReplacement(workflow) &&
      !workflow.replacement?.instanceId &&
      primaryIpReleased(workflow) &&
      rootSnapshotReady(workflow),
    snapshotRoot:
      !rootSnapshotReady(workflow) &&
      workflow.handover?.protectedAt !== undefined &&
      hasReleasedResources(workflow.oldInstanceState),
    handOver: replacementRunning && handover !== undefined && handover.readyAt === undefined,
    register:
      replacementRunning &&
      workflow.registered === undefined &&
      (handover === undefined || handover.readyAt !== undefined) &&
      !retiring(workflow),
    checkHealthy:
      carefulWithOldRunning(workflow) &&
      workflow.careful?.healthyAt === undefined &&
      replacementRunning &&
      workflow.registered !== undefined,
    terminateOld:
      carefulWithOldRunning(workflow) &&
      workflow.careful?.healthyAt !== undefined &&
      workflow.drained &&
      workflow.careful.terminatedOldAt === undefined &&
      old !== undefined &&
      !isLeavingOrGone(old.state),
    retireStandby: retiring(workflow) && !workflow.signals.warning && replacement !== undefined,
  };
}

/** With `primary-ip=keep`, the launch waits until EC2 releases the old primary IP (termination). */
export function primaryIpReleased(workflow: Workflow): boolean {
  if (workflow.handover?.options.primaryIp !== 'keep') return true;
  return hasReleasedResources(workflow.oldInstanceState);
}

/** The primary IP to launch the replacement with, if it keeps the old one and EC2 has released it. */
export function keptPrimaryIp(workflow: Workflow): string | undefined {
  const released = workflow.oldInstanceState === 'terminated' || workflow.oldInstanceState === 'gone';
  return workflow.handover?.options.primaryIp === 'keep' && released
    ? workflow.instance?.privateIpAddress
    : undefined;
}

/** Sets status, outcome and reason from what the record now shows (completed, with its expiry, or open). */
export function updateStatus(workflow: Workflow, now: Date, retentionDays: number): void {
  const finish = (outcome: WorkflowOutcome, reason: string) => {
    const wasFinished = workflow.status === 'completed';
    workflow.status = 'completed';
    workflow.outcome = outcome;
    workflow.reason = reason;
    if (!wasFinished) workflow.finishedAt = now.toISOString();
    workflow.expiresAt = Math.floor(now.getTime() / 1000) + retentionDays * 86_400;
  };
  const open = (status: 'in-progress' | 'standby', reason: string) => {
    workflow.status = status;
    workflow.reason = reason;
    delete workflow.outcome;
    delete workflow.finishedAt;
    delete workflow.expiresAt;
  };

  if (!workflow.instance) {
    finish('instance-gone', 'EC2 no longer knows the instance: nothing to drain or replace.');
    return;
  }
  const end = workflow.standbyEnd;
  if (end?.action === 'retire' && !wantsDrain(workflow)) {
    if (end.terminatedAt) finish('standby-retired', end.reason);
    else
      open(
        'in-progress',
        end.deregisteredAt
          ? `Retiring standby ${workflow.replacement?.instanceId}: waiting for its targets to finish draining, then terminating it.`
          : `Retiring standby ${workflow.replacement?.instanceId}: draining it.`,
      );
    return;
  }
  const careful = workflow.careful;
  if (careful && !careful.admittedAt && !wantsReplacement(workflow)) {
    open(
      'in-progress',
      `Over the churn budget of group ${workflow.group ?? '(none)'} since ${careful.overBudgetSince}; the sweep retries.`,
    );
    return;
  }
  const drainPending = wantsDrain(workflow) && !workflow.drained;
  const replaceable = replaceability(workflow.instance);
  if (!replaceable.replaceable) {
    if (drainPending) open('in-progress', 'Draining.');
    else if (!wantsDrain(workflow))
      open(
        'standby',
        `${replaceable.reason.replace('; drained only.', '')}; waiting for an interruption warning.`,
      );
    else finish(replaceable.outcome, replaceable.reason);
    return;
  }
  const r = workflow.replacement;
  if (!r?.instanceId) {
    const waiting = !primaryIpReleased(workflow)
      ? 'Waiting for EC2 to release the primary IP the replacement keeps.'
      : !rootSnapshotReady(workflow)
        ? 'Waiting for the old instance to stop and its root volume snapshot to complete.'
        : 'Launching the replacement.';
    open('in-progress', r?.lastError ? `Launch failed (${r.lastError.code}); retrying.` : waiting);
    return;
  }
  const handover = workflow.handover;
  if (handover && handover.readyAt === undefined) {
    const done = handover.resources.filter(accountedFor).length;
    open(
      'in-progress',
      `Handing over state to ${r.instanceId}: ${done} of ${handover.resources.length} resources settled.`,
    );
    return;
  }
  if (workflow.registered === undefined) {
    open('in-progress', `Waiting for replacement ${r.instanceId} to run.`);
    return;
  }
  if (careful && carefulWithOldRunning(workflow) && careful.terminatedOldAt === undefined) {
    const groups = new Set((workflow.registered ?? []).map((t) => t.targetGroupArn)).size;
    open(
      'in-progress',
      !careful.healthyAt
        ? `Waiting for replacement ${r.instanceId} to pass health checks in ${groups} target groups before draining ${workflow.instanceId}.`
        : drainPending
          ? 'Draining.'
          : `Old instance ${workflow.instanceId} deregistered; terminating it once its targets finish draining.`,
    );
    return;
  }
  if (drainPending) {
    open('in-progress', 'Draining.');
    return;
  }
  if (!wantsDrain(workflow)) {
    open(
      'standby',
      `Replacement ${r.instanceId} serves beside the old instance; draining waits for an interruption warning.`,
    );
    return;
  }
  if (r.reclaimedBy) {
    finish(
      'replaced',
      `Replacement ${r.instanceId} was warned before it was registered: its own workflow ${r.reclaimedBy} replaces it, and registers its replacement where ${workflow.instanceId} served.`,
    );
    return;
  }
  finish(
    'replaced',
    careful?.terminatedOldAt
      ? `Replacement ${r.instanceId} serves in place of ${workflow.instanceId}, which was drained and terminated (${workflow.kind ?? 'careful replace'}: ${careful.reason}).`
      : `Replacement ${r.instanceId} serves in place of ${workflow.instanceId}.`,
  );
}
