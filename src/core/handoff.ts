import { eachWorkflow, type InstanceOutcome, type WorkflowGroup } from './batch.ts';
import type { Signal } from './events.ts';
import type { InstanceFacts } from './facts.ts';
import { absorb, groupOf, instanceRecord, planNext, rebalancePolicyOf } from './plan.ts';
import type { HandoffDeps, Log } from './ports.ts';
import { inventory, statefulOptions } from './stateful.ts';
import { CarefulSteps } from './steps/careful.ts';
import { reclaimOfReplacement, waitsForParent } from './steps/parent.ts';
import { Pass } from './steps/pass.ts';
import { type CarefulReplace, type Workflow, type WorkflowKind, workflowIdFor } from './workflow.ts';

export { type InstanceOutcome, ReplacementNotLaunchedError, WorkflowContentionError } from './batch.ts';

/**
 * The handoff of one interrupted instance, in the order a person would do it:
 *   0. (the batch, at delivery) drain a warned instance from where the registration index says it
 *      serves, as soon as EC2 confirms it is managed (`registration-index.ts`);
 *   1. read what EC2 says about the instance and its replacement (never what the event claims);
 *   2. record the workflow before anything can fail;
 *   3. find the target groups it serves in; (stateful) make what must move survive its
 *      termination, and snapshot its root volume once it has stopped writing;
 *   4. drain it and launch its replacement, in parallel;
 *   5. (stateful) hand its volumes, interfaces and addresses to the replacement as each side is ready;
 *   6. register the replacement in the same target groups once it runs (and has its state);
 *   7. record each step; a write that lost a race re-reads and decides again.
 * Every step is idempotent (ClientToken, conditional writes), so duplicate, late or out-of-order
 * events and crashes converge on one workflow with at most one replacement. The actions are in
 * `steps/`, the decisions in `plan.ts` and `stateful.ts`; which signals make which workflow, the
 * batch's shared calls and the write-race loop are in `batch.ts`.
 */
async function progress(
  workflow: Workflow,
  isNew: boolean,
  group: WorkflowGroup,
  oldNow: InstanceFacts | undefined,
  deps: HandoffDeps,
  log: Log,
): Promise<Workflow | undefined> {
  const pass = new Pass(workflow, deps, log);
  const careful = new CarefulSteps(workflow, pass, deps, log);
  const save = () => saveWorkflow(workflow, isNew && workflow.version === 0, deps);
  absorb(workflow, group.signals, deps.settings);
  if (isNew) pass.countStart();
  // A careful replace launches when admitted (churn budget); a standby past its age ends by policy.
  await careful.admit();
  careful.endStandbyIfDue();

  // 1. What EC2 says now, about the old instance and the replacement.
  pass.observeOld(oldNow);
  // A replacement interrupted in turn waits for the workflow that launched it (`steps/parent.ts`).
  const held = await waitsForParent(workflow, oldNow, deps, log);
  let replacement = await pass.describeReplacement();
  let plan = planNext({ workflow, old: oldNow, replacement });

  // 2. The record exists before anything can fail (a retry after the old instance is gone still
  // knows its subnet, template and resources). A warning is counted in the pool memory once the
  // record says it is, so a retry never counts it twice.
  const interrupted = interruptionToCount(workflow, group.signals, deps.clock.now());
  if ((isNew || interrupted) && !(await save())) return undefined;
  if (interrupted) await deps.poolMemory?.recordInterruptions([interrupted], deps.clock.now());

  // 3. Where the old instance serves, and (stateful) that what must survive it will: each recorded
  // as soon as it is known.
  if (plan.findTargets && oldNow) {
    await pass.findTargets(oldNow, group.drainedAtDelivery);
    if (!(await save())) return undefined;
  }
  if (held) {
    if (plan.drain) await pass.drain(group.drainedAtDelivery);
    return (await save()) ? workflow : undefined;
  }
  if (plan.protect && oldNow) {
    await pass.protect(oldNow);
    if (!(await save())) return undefined;
  }
  plan = planNext({ workflow, old: oldNow, replacement });
  if (plan.snapshotRoot) {
    await pass.snapshotRoot();
    plan = planNext({ workflow, old: oldNow, replacement });
  }

  // 4. Drain and launch in parallel.
  const [, launched] = await Promise.all([
    plan.drain ? pass.drain(group.drainedAtDelivery) : undefined,
    plan.launch ? pass.launch(save) : undefined,
  ]);
  plan = planNext({ workflow, old: oldNow, replacement });
  if (launched) {
    // Make the replacement traceable before anything else can fail.
    const expiresAt = Math.floor(deps.clock.now().getTime() / 1000) + deps.settings.retentionDays * 86_400;
    await deps.store.linkReplacement(launched, workflow.workflowId, expiresAt);
    // Its `running` event may have come before we knew its id (it was in this batch).
    if (group.replacementIds.has(launched)) {
      replacement = await pass.describeReplacement();
      plan = planNext({ workflow, old: oldNow, replacement });
    }
  }

  // 5. (stateful) Move volumes, interfaces and addresses as each side becomes ready.
  if (plan.handOver && replacement) {
    replacement = await pass.handOver(replacement);
    plan = planNext({ workflow, old: oldNow, replacement });
  }

  // 6. Register the replacement where the old instance served, once it runs (and has its state).
  if (plan.register && replacement) {
    // A replacement warned before it was registered is not: its own workflow registers its replacement.
    const reclaimedBy = await reclaimOfReplacement(replacement, deps);
    if (reclaimedBy) pass.leaveRegistrations(reclaimedBy);
    else await pass.register(replacement);
    plan = planNext({ workflow, old: oldNow, replacement });
  }

  // 6b. Careful replace: once the replacement is healthy everywhere, drain the old instance, and
  // terminate it once drained. A retiring standby goes out the same way.
  if (plan.checkHealthy) {
    await careful.checkHealthy();
    plan = planNext({ workflow, old: oldNow, replacement });
  }
  if (plan.drain) {
    await pass.drain(group.drainedAtDelivery);
    plan = planNext({ workflow, old: oldNow, replacement });
  }
  if (plan.terminateOld && oldNow) await careful.terminateOld(oldNow);
  if (plan.retireStandby && replacement) await careful.retireStandby(replacement);

  // 7. Record.
  pass.updateStatus();
  return (await save()) ? workflow : undefined;
}

/**
 * Handles a batch of signals (a single event is a batch of one): every workflow they speak of
 * progresses. A replacement that could not be launched fails the call (so the event is retried)
 * unless `failOnLaunchError` is false.
 */
export function handOff(
  signals: readonly Signal[],
  deps: HandoffDeps,
  { failOnLaunchError = true } = {},
): Promise<InstanceOutcome[]> {
  return eachWorkflow(signals, deps, { failOnLaunchError, open: openWorkflow, progress });
}

/**
 * The pool of an interruption warning for the workflow's instance, grouped or not, that the pool
 * memory has not counted yet; marks the record as counted.
 */
function interruptionToCount(
  workflow: Workflow,
  signals: readonly Signal[],
  now: Date,
): { instanceType: string; availabilityZone: string } | undefined {
  const { instance } = workflow;
  if (workflow.signals.poolCountedAt !== undefined || !instance) return undefined;
  if (!signals.some((s) => s.kind === 'warning' && s.instanceId === workflow.instanceId)) return undefined;
  workflow.signals.poolCountedAt = now.toISOString();
  return { instanceType: instance.instanceType, availabilityZone: instance.availabilityZone };
}

/** A new workflow for the instance, from what EC2 says about it and the first signal. */
function openWorkflow(
  instanceId: string,
  old: InstanceFacts | undefined,
  signals: readonly Signal[],
  deps: HandoffDeps,
): Workflow {
  const now = deps.clock.now().toISOString();
  const first = signals.find((s) => s.instanceId === instanceId);
  const options = old ? statefulOptions(old.tags, deps.settings.tags) : undefined;
  const { kind, careful } = kindOfNew(signals, instanceId, old, deps, now);
  if (careful) deps.metrics.count('CarefulReplacesStarted');
  return {
    workflowId: workflowIdFor(instanceId),
    instanceId,
    version: 0,
    status: 'in-progress',
    ...(first?.replayed ? { replayed: true } : {}),
    startedAt: now,
    updatedAt: now,
    eventIds: [],
    signals: { rebalance: false, warning: false },
    instance: old ? instanceRecord(old) : undefined,
    handover: old && options ? inventory(old, options) : undefined,
    drained: false,
    oldInstanceState: old?.state ?? 'gone',
    elbCalls: 0,
    steps: [
      {
        name: 'detected',
        status: 'done',
        at: now,
        elapsedMs: 0,
        detail: first ? `${first.kind} ${first.eventId}` : undefined,
      },
    ],
    kind,
    group: groupOf(old, deps.settings.tags),
    careful,
  };
}

/**
 * What a new workflow is: a careful replace when one was asked for, or when a rebalance
 * recommendation meets a group whose policy is `replace`; else an interruption.
 */
function kindOfNew(
  signals: readonly Signal[],
  instanceId: string,
  old: InstanceFacts | undefined,
  deps: HandoffDeps,
  now: string,
): { kind: WorkflowKind; careful?: CarefulReplace } {
  const own = signals.filter((s) => s.instanceId === instanceId);
  if (own.some((s) => s.kind === 'warning' || s.kind === 'state-change')) return { kind: 'interruption' };
  const asked = own.find((s) => s.kind === 'replace');
  if (asked?.kind === 'replace') {
    return {
      kind: asked.replaceKind,
      careful: { reason: asked.reason, requestedAt: now, admittedAt: now },
    };
  }
  const rebalance = own.find((s) => s.kind === 'rebalance');
  if (rebalance && rebalancePolicyOf(old, deps.settings) === 'replace') {
    return {
      kind: 'rebalance-replace',
      careful: {
        reason: `rebalance recommendation ${rebalance.eventId}; group policy rebalance=replace`,
        requestedAt: now,
      },
    };
  }
  return { kind: 'interruption' };
}

/** Conditional write: creates version 1, or writes version n+1 over n. */
async function saveWorkflow(workflow: Workflow, create: boolean, deps: HandoffDeps): Promise<boolean> {
  workflow.version += 1;
  workflow.updatedAt = deps.clock.now().toISOString();
  const ok = create ? await deps.store.create(workflow) : await deps.store.update(workflow);
  if (!ok) workflow.version -= 1;
  return ok;
}
