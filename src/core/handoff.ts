import { REPLACES_TAG } from '../config.ts';
import { BatchedLoadBalancing } from './batched-load-balancing.ts';
import type { Signal } from './events.ts';
import { absorb, type PlanSettings, planNext, snapshotOf, startsWorkflow } from './plan.ts';
import type {
  Clock,
  Compute,
  InstanceFacts,
  LoadBalancing,
  Log,
  Metrics,
  StatefulResources,
} from './ports.ts';
import { inventory, statefulOptions } from './stateful.ts';
import { Pass } from './steps.ts';
import { type Workflow, type WorkflowStore, workflowIdFor } from './workflow.ts';

/**
 * The handoff. For every instance a batch of events speaks of, in this order:
 *   1. read what EC2 says about the instance (never what the event claims);
 *   2. open its workflow, or find the workflow it is the replacement of;
 *   3. record it; find the target groups it serves in; (stateful) make what must move survive
 *      its termination — each recorded before anything can change it;
 *   4. drain it and launch its replacement, in parallel;
 *   5. (stateful) hand its volumes, interfaces and addresses to the replacement as each side is ready;
 *   6. register the replacement in the same target groups once it runs (and has its state);
 *   7. record each step; a write that lost a race re-reads and decides again.
 * Every step is idempotent (ClientToken, conditional writes), so duplicate, late or out-of-order
 * events and crashes converge on one workflow with at most one replacement. The actions are in
 * `steps.ts`, the decisions in `plan.ts` and `stateful.ts`.
 */

export interface HandoffDeps {
  compute: Compute;
  loadBalancing: LoadBalancing;
  stateful: StatefulResources;
  store: WorkflowStore;
  clock: Clock;
  log: Log;
  metrics: Metrics;
  settings: PlanSettings & {
    managedTagKey: string;
    statefulTagKey: string;
    retentionDays: number;
    /** How long a handover waits within the invocation for attachments to complete (then: the sweep). */
    attachWaitMs: number;
    /** How long after the old instance stops the handover and registration are due. */
    handoverTimeoutMs: number;
  };
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
const PARALLEL_WORKFLOWS = 64;

/**
 * Handles a batch of signals (a single event is a batch of one). A replacement that could not be
 * launched fails the call (so the event is retried) unless `failOnLaunchError` is false.
 */
export async function handOff(
  signals: readonly Signal[],
  deps: HandoffDeps,
  { failOnLaunchError = true } = {},
): Promise<InstanceOutcome[]> {
  const ids = [...new Set(signals.map((s) => s.instanceId))];
  const facts = await deps.compute.describeInstances(ids);
  const groups = await groupByWorkflow(signals, facts, deps);
  // Replacements' events lead to workflows of instances not described yet: one more call for all.
  const owners = [...groups.keys()].filter((id) => !ids.includes(id));
  for (const [id, instance] of await deps.compute.describeInstances(owners)) facts.set(id, instance);
  // A batch shares its load balancer calls: one discovery, one (de)registration per target group.
  const olds = [...groups.values()]
    .flatMap((g) => (g.skip ? [] : [facts.get(g.instanceId)]))
    .filter((f) => f !== undefined);
  const batchDeps =
    groups.size > 1 ? { ...deps, loadBalancing: new BatchedLoadBalancing(deps.loadBalancing, olds) } : deps;
  const outcomes = await eachWorkflow([...groups.values()], PARALLEL_WORKFLOWS, (group) =>
    advance(group, facts, batchDeps),
  );
  const failed = failOnLaunchError
    ? outcomes.find((o) => o.result === 'workflow' && needsRetry(o.workflow))
    : undefined;
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
    const group = groups.get(instanceId) ?? { instanceId, signals: [], replacementIds: new Set<string>() };
    groups.set(instanceId, group);
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
    if (
      !stored &&
      !group.signals.some((s) => s.instanceId === instanceId && startsWorkflow(s, old, deps.settings))
    ) {
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
    handover: old ? statefulHandover(old, deps.settings.statefulTagKey) : undefined,
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
  const pass = new Pass(workflow, deps, log);
  const save = () => saveWorkflow(workflow, isNew && workflow.version === 0, deps);
  absorb(workflow, group.signals, deps.settings);
  if (isNew) pass.countStart();

  // Step 1: what EC2 says now, about the old instance and the replacement.
  pass.observeOld(oldNow);
  let replacement = await pass.describeReplacement();
  let plan = planNext({ workflow, old: oldNow, replacement });

  // Step 3: the record exists before anything can fail (a retry after the old instance is gone
  // still knows its subnet, template and resources); then where the old instance serves, and
  // (stateful) that what must survive it will survive — each recorded as soon as it is known.
  if (isNew && !(await save())) return undefined;
  if (plan.findTargets && oldNow) {
    await pass.findTargets(oldNow);
    if (!(await save())) return undefined;
  }
  if (plan.protect && oldNow) {
    await pass.protect(oldNow);
    if (!(await save())) return undefined;
  }
  plan = planNext({ workflow, old: oldNow, replacement });

  // Step 3b (stateful, root volume carried): snapshot it once the old instance has stopped writing.
  if (plan.snapshotRoot) {
    await pass.snapshotRoot();
    plan = planNext({ workflow, old: oldNow, replacement });
  }

  // Step 4: drain and launch in parallel.
  const [, launched] = await Promise.all([
    plan.drain ? pass.drain() : undefined,
    plan.launch ? pass.launch() : undefined,
  ]);
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

  // Step 5 (stateful): move volumes, interfaces and addresses as each side becomes ready.
  if (plan.handOver && replacement) {
    replacement = await pass.handOver(replacement);
    plan = planNext({ workflow, old: oldNow, replacement });
  }

  // Step 6: register the replacement where the old instance served, once it runs (and has its state).
  if (plan.register && replacement) await pass.register(replacement);

  // Step 7: record.
  pass.settle();
  return (await save()) ? workflow : undefined;
}

function statefulHandover(old: InstanceFacts, statefulTagKey: string) {
  const options = statefulOptions(old.tags, statefulTagKey);
  return options ? inventory(old, options) : undefined;
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
  return (
    workflow.status === 'in-progress' &&
    !workflow.replacement?.instanceId &&
    workflow.replacement?.lastError !== undefined
  );
}

/**
 * Runs `fn` over every item, at most `limit` at once, and waits for all: one workflow's failure does
 * not keep the others of the batch from progressing. Then the first failure is thrown (so the
 * invocation is retried; every step being idempotent, a retry redoes nothing twice).
 */
async function eachWorkflow<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array(items.length);
  const failures: unknown[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      try {
        results[index] = await fn(items[index]!);
      } catch (error) {
        failures.push(error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.length > 0) throw failures[0];
  return results;
}
