import { REPLACES_TAG } from '../config.ts';
import type { Signal } from './events.ts';
import {
  absorb,
  clientTokenFor,
  isStoppedOrGoing,
  type PlanSettings,
  planNext,
  replacementTargets,
  replacementTags,
  settle,
  snapshotOf,
  startsWorkflow,
} from './plan.ts';
import type { Clock, Compute, InstanceFacts, LoadBalancing, Log, Metrics } from './ports.ts';
import { type StepName, type Workflow, type WorkflowStore, workflowIdFor } from './workflow.ts';

/**
 * The handoff. For every instance a batch of events speaks of, in this order:
 *   1. read what EC2 says about the instance (never what the event claims);
 *   2. open its workflow, or find the workflow it is the replacement of;
 *   3. find the target groups it serves in, and record them before anything changes;
 *   4. drain it and launch its replacement, in parallel;
 *   5. register the replacement in the same target groups once it runs;
 *   6. record each step; a write that lost a race re-reads and decides again.
 * Every step is idempotent (ClientToken, conditional writes), so duplicate, late or out-of-order
 * events and crashes converge on one workflow with at most one replacement.
 */

export interface HandoffDeps {
  compute: Compute;
  loadBalancing: LoadBalancing;
  store: WorkflowStore;
  clock: Clock;
  log: Log;
  metrics: Metrics;
  settings: PlanSettings & { managedTagKey: string; retentionDays: number };
}

export type InstanceOutcome =
  | { instanceId: string; result: 'workflow'; workflow: Workflow }
  | { instanceId: string; result: 'unmanaged' | 'no-op'; reason: string };

/** The replacement could not be launched (no capacity): recorded; the invocation fails so it is retried. */
export class ReplacementNotLaunchedError extends Error {
  override name = 'ReplacementNotLaunchedError';
}

/** Another invocation kept winning the write race; the invocation fails so it is retried. */
export class WorkflowContentionError extends Error {
  override name = 'WorkflowContentionError';
}

const MAX_WRITE_RACES = 8;
const PARALLEL_WORKFLOWS = 16;

/** Handles a batch of signals (a single event is a batch of one). */
export async function handOff(signals: readonly Signal[], deps: HandoffDeps): Promise<InstanceOutcome[]> {
  const ids = [...new Set(signals.map((s) => s.instanceId))];
  const facts = await deps.compute.describeInstances(ids);
  const groups = await groupByWorkflow(signals, facts, deps);
  // Replacements' events lead to workflows of instances not described yet: one more call for all.
  const owners = [...groups.keys()].filter((id) => !ids.includes(id));
  for (const [id, instance] of await deps.compute.describeInstances(owners)) facts.set(id, instance);
  const outcomes = await mapLimit([...groups.values()], PARALLEL_WORKFLOWS, (group) => advance(group, facts, deps));
  const failed = outcomes.find((o) => o.result === 'workflow' && needsRetry(o.workflow));
  if (failed?.result === 'workflow') {
    const error = failed.workflow.replacement?.lastError;
    throw new ReplacementNotLaunchedError(
      `Replacement for ${failed.instanceId} not launched: ${error?.code}: ${error?.message}. Recorded in ${failed.workflow.workflowId}; the invocation will be retried.`,
    );
  }
  return outcomes;
}

interface WorkflowGroup {
  /** The instance being replaced. */
  instanceId: string;
  signals: Signal[];
  /** Ids of replacements the signals spoke of. */
  replacementIds: Set<string>;
  skip?: { result: 'unmanaged' | 'no-op'; reason: string };
}

/** Step 2: which workflow each signal belongs to. */
async function groupByWorkflow(
  signals: readonly Signal[],
  facts: Map<string, InstanceFacts>,
  deps: HandoffDeps,
): Promise<Map<string, WorkflowGroup>> {
  const groups = new Map<string, WorkflowGroup>();
  const groupOf = (instanceId: string) => {
    let group = groups.get(instanceId);
    if (!group) groups.set(instanceId, (group = { instanceId, signals: [], replacementIds: new Set() }));
    return group;
  };
  for (const signal of signals) {
    const instance = facts.get(signal.instanceId);
    const replaces =
      instance?.tags[REPLACES_TAG] ??
      (instance ? undefined : await originalOf(signal.instanceId, deps.store));
    if (replaces) {
      const group = groupOf(replaces);
      group.replacementIds.add(signal.instanceId);
      group.signals.push({ ...signal, kind: 'state-change', state: instance?.state ?? 'terminated' });
      continue;
    }
    const group = groupOf(signal.instanceId);
    group.signals.push(signal);
    if (instance && instance.tags[deps.settings.managedTagKey] !== 'true') {
      group.skip = {
        result: 'unmanaged',
        reason: `Instance is not tagged ${deps.settings.managedTagKey}=true; left alone.`,
      };
    }
  }
  return groups;
}

async function originalOf(instanceId: string, store: WorkflowStore): Promise<string | undefined> {
  const workflowId = await store.workflowOfReplacement(instanceId);
  return workflowId ? (await store.get(workflowId))?.instanceId : undefined;
}

/** Steps 3–6 for one workflow, re-run from a fresh read whenever a concurrent writer wins. */
async function advance(
  group: WorkflowGroup,
  facts: Map<string, InstanceFacts>,
  deps: HandoffDeps,
): Promise<InstanceOutcome> {
  const { instanceId } = group;
  const workflowId = workflowIdFor(instanceId);
  const log = deps.log.with({ instanceId, workflowId });
  if (group.skip) {
    log.info(group.skip.reason, { outcome: group.skip.result });
    deps.metrics.count('UnmanagedInstancesSkipped');
    return { instanceId, ...group.skip };
  }
  const old = facts.get(instanceId);
  for (let race = 0; race < MAX_WRITE_RACES; race++) {
    const stored = await deps.store.get(workflowId);
    if (!stored && !group.signals.some((s) => s.instanceId === instanceId && startsWorkflow(s, old, deps.settings))) {
      const reason = 'No interruption signal for this instance and no workflow: nothing to do.';
      log.debug(reason, { signals: group.signals.map((s) => s.kind) });
      return { instanceId, result: 'no-op', reason };
    }
    const workflow = stored ?? openWorkflow(instanceId, old, group.signals, deps);
    const saved = await progress(workflow, stored === undefined, group, old, deps, log);
    if (saved) return { instanceId, result: 'workflow', workflow: saved };
    deps.metrics.count('WriteConflicts');
    log.info('Another invocation updated the workflow first; re-reading it.');
  }
  throw new WorkflowContentionError(
    `Workflow ${workflowId} kept changing under this invocation (${MAX_WRITE_RACES} write races); it will be retried.`,
  );
}

function openWorkflow(
  instanceId: string,
  old: InstanceFacts | undefined,
  signals: readonly Signal[],
  deps: HandoffDeps,
): Workflow {
  const now = deps.clock.now().toISOString();
  const first = signals.find((s) => s.instanceId === instanceId);
  return {
    workflowId: workflowIdFor(instanceId),
    instanceId,
    version: 0,
    status: 'in-progress',
    startedAt: now,
    updatedAt: now,
    eventIds: [],
    signals: { rebalance: false, warning: false },
    instance: old ? snapshotOf(old) : undefined,
    drained: false,
    oldInstanceState: old?.state ?? 'gone',
    elbCalls: 0,
    steps: [{ name: 'detected', status: 'done', at: now, elapsedMs: 0, detail: first ? `${first.kind} ${first.eventId}` : undefined }],
  };
}

/** One pass over the workflow; returns the saved record, or undefined if a concurrent write won. */
async function progress(
  workflow: Workflow,
  isNew: boolean,
  group: WorkflowGroup,
  oldNow: InstanceFacts | undefined,
  deps: HandoffDeps,
  log: Log,
): Promise<Workflow | undefined> {
  const { compute, loadBalancing, metrics } = deps;
  const step = (name: StepName, status: 'done' | 'failed' | 'skipped', detail?: string) => {
    const now = deps.clock.now();
    workflow.steps.push({
      name,
      status,
      at: now.toISOString(),
      elapsedMs: now.getTime() - Date.parse(workflow.startedAt),
      detail,
    });
    log.info(`${name}: ${status}${detail ? ` (${detail})` : ''}`, { step: name, status });
  };
  const save = () => saveWorkflow(workflow, isNew && workflow.version === 0, deps);

  absorb(workflow, group.signals, deps.settings);
  if (isNew) {
    metrics.count('WorkflowsStarted');
    if (workflow.signals.warning) metrics.count('InterruptionWarnings');
    if (workflow.signals.rebalance) metrics.count('RebalanceRecommendations');
  }

  // Step 1: what EC2 says now, about the old instance and the replacement.
  const oldState = oldNow?.state ?? 'gone';
  if (oldState !== workflow.oldInstanceState && workflow.instance) {
    workflow.oldInstanceState = oldState;
    if (isStoppedOrGoing(oldState)) step('old-instance-stopped', 'done', `old instance ${oldState}`);
  }
  // Only a replacement the workflow launched counts: its id comes from our own ClientToken.
  const describeReplacement = async () => {
    const id = workflow.replacement?.instanceId;
    const found = id ? (await compute.describeInstances([id])).get(id) : undefined;
    if (found && workflow.replacement && found.state !== workflow.replacement.state) {
      workflow.replacement.state = found.state;
      if (found.state === 'running') step('replacement-running', 'done', found.instanceId);
    }
    return found;
  };
  let replacement = await describeReplacement();
  let plan = planNext({ workflow, old: oldNow, replacement });

  // Step 3: where the old instance serves, recorded before it is drained.
  if (plan.findTargets && oldNow) {
    const found = await loadBalancing.findTargets([oldNow]);
    workflow.targets = found.byInstance.get(oldNow.instanceId) ?? [];
    workflow.elbCalls += found.calls;
    metrics.count('ElbApiCalls', found.calls);
    step('targets-found', 'done', `${workflow.targets.length} registrations, ${found.calls} ELB calls`);
    if (!(await save())) return undefined;
    plan = planNext({ workflow, old: oldNow, replacement });
  }

  // Step 4: drain and launch in parallel.
  let launched = false;
  await Promise.all([plan.drain ? drain() : undefined, plan.launch ? launch() : undefined]);
  if (launched) {
    // Make the replacement traceable before anything else can fail.
    await deps.store.linkReplacement(workflow.replacement!.instanceId!, workflow.workflowId);
    // Its `running` event may have come before we knew its id (it was in this batch).
    if (group.replacementIds.has(workflow.replacement!.instanceId!)) {
      replacement = await describeReplacement();
      plan = planNext({ workflow, old: oldNow, replacement });
    }
  }

  async function drain() {
    const targets = workflow.targets ?? [];
    const { calls } = targets.length > 0 ? await loadBalancing.deregister(targets) : { calls: 0 };
    workflow.drained = true;
    workflow.elbCalls += calls;
    metrics.count('ElbApiCalls', calls);
    metrics.count('TargetsDeregistered', targets.length);
    step('drain', 'done', `deregistered from ${targets.length} registrations, ${calls} ELB calls`);
  }

  async function launch() {
    const instance = workflow.instance!;
    const r = workflow.replacement ?? (workflow.replacement = { attempt: 1, clientToken: clientTokenFor(workflow.workflowId, 1) });
    const result = await compute.launch({
      clientToken: r.clientToken,
      launchTemplate: instance.launchTemplate!,
      subnetId: instance.subnetId!,
      tags: replacementTags(workflow),
    });
    if (result.ok) {
      r.instanceId = result.instanceId;
      r.state = 'pending';
      r.availabilityZone = instance.availabilityZone;
      r.subnetId = instance.subnetId;
      delete r.lastError;
      launched = true;
      metrics.count('ReplacementsLaunched');
      step('launch', 'done', `${result.instanceId} (ClientToken ${r.clientToken})`);
      return;
    }
    r.lastError = { code: result.code, message: result.message, at: deps.clock.now().toISOString() };
    r.attempt += 1;
    r.clientToken = clientTokenFor(workflow.workflowId, r.attempt);
    metrics.count('ReplacementLaunchFailures');
    step('launch', 'failed', `${result.code}: ${result.message}`);
  }

  // Step 5: register the replacement where the old instance served, once it runs.
  if (plan.register && replacement) {
    const { targets, notCarried } = replacementTargets(workflow, replacement);
    const { calls } = targets.length > 0 ? await loadBalancing.register(targets) : { calls: 0 };
    workflow.registered = targets;
    workflow.elbCalls += calls;
    metrics.count('ElbApiCalls', calls);
    metrics.count('TargetsRegistered', targets.length);
    const lost = notCarried.length > 0 ? `; not carried over: ${notCarried.map((t) => `${t.id}:${t.port}`).join(', ')}` : '';
    step('register', 'done', `${targets.length} registrations, ${calls} ELB calls${lost}`);
    metrics.handoffSeconds((deps.clock.now().getTime() - Date.parse(workflow.startedAt)) / 1000);
  }

  // Step 6: record.
  const before = workflow.status;
  settle(workflow, deps.clock.now(), deps.settings.retentionDays);
  if (workflow.status === 'completed' && before !== 'completed') {
    step('completed', 'done', `${workflow.outcome}: ${workflow.reason}`);
    metrics.count('WorkflowsCompleted');
  }
  return (await save()) ? workflow : undefined;
}

/** Conditional write: creates version 1, or writes version n+1 over n. */
async function saveWorkflow(workflow: Workflow, create: boolean, deps: HandoffDeps): Promise<boolean> {
  workflow.version += 1;
  workflow.updatedAt = deps.clock.now().toISOString();
  const ok = create ? await deps.store.create(workflow) : await deps.store.update(workflow);
  if (!ok) workflow.version -= 1;
  return ok;
}

function needsRetry(workflow: Workflow): boolean {
  return workflow.status === 'in-progress' && !workflow.replacement?.instanceId && workflow.replacement?.lastError !== undefined;
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
