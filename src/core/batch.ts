import { BatchedCompute } from './batched-compute.ts';
import { BatchedLoadBalancing } from './batched-load-balancing.ts';
import { mapConcurrently, throwTogether } from './concurrency.ts';
import type { Signal } from './events.ts';
import type { InstanceFacts } from './facts.ts';
import { GroupFleets } from './fleet-launch.ts';
import { startsWorkflow } from './plan.ts';
import type { HandoffDeps, Log, WorkflowStore } from './ports.ts';
import { type DrainedAtDelivery, describeAndDrain } from './registration-index.ts';
import { type Workflow, workflowIdFor } from './workflow.ts';

/**
 * Around the handoff of one instance (`handoff.ts`): a batch of signals is read once, grouped by
 * the workflow each belongs to, shares its load balancer calls, and runs its workflows side by
 * side; each workflow re-runs from a fresh read whenever a concurrent writer wins.
 */

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

/** The signals of one workflow. */
export interface WorkflowGroup {
  /** The instance being replaced. */
  instanceId: string;
  signals: Signal[];
  /** Ids of replacements the signals spoke of. */
  replacementIds: Set<string>;
  /** The instance is a replacement with (or starting) its own workflow: the workflow that launched it. */
  parentWorkflowId?: string;
  /** What the batch deregistered at delivery from the registration index, if anything. */
  drainedAtDelivery?: DrainedAtDelivery;
  skip?: { result: 'unmanaged' | 'no-op'; reason: string };
}

/** How the batch opens a workflow and runs one pass over it (the handoff's own steps). */
export interface WorkflowRun {
  failOnLaunchError: boolean;
  open(
    instanceId: string,
    old: InstanceFacts | undefined,
    signals: readonly Signal[],
    deps: HandoffDeps,
  ): Workflow;
  /** One pass; the saved record, or undefined when a concurrent write won. */
  progress(
    workflow: Workflow,
    isNew: boolean,
    group: WorkflowGroup,
    old: InstanceFacts | undefined,
    deps: HandoffDeps,
    log: Log,
  ): Promise<Workflow | undefined>;
}

const MAX_WRITE_RACES = 8;
const PARALLEL_WORKFLOWS = 64;

/**
 * Every workflow the signals speak of, side by side: one workflow's failure does not keep the
 * others from progressing; then every failure is thrown together (the invocation is retried, and
 * every step being idempotent, a retry redoes nothing twice).
 */
export async function eachWorkflow(
  signals: readonly Signal[],
  deps: HandoffDeps,
  run: WorkflowRun,
): Promise<InstanceOutcome[]> {
  const ids = [...new Set(signals.map((s) => s.instanceId))];
  // Round trip 1: what EC2 says, beside where the index says the warned instances serve; round
  // trip 2 drains those EC2 confirms (`registration-index.ts`), while their workflows proceed.
  const delivery = describeAndDrain(signals, ids, deps);
  const facts = await delivery.facts;
  const groups = await groupByWorkflow(signals, facts, deps);
  for (const group of groups.values()) {
    group.drainedAtDelivery = delivery.drained.then((drained) => drained.get(group.instanceId) ?? []);
  }
  // Replacements' events lead to workflows of instances not described yet: one more call for all.
  const owners = [...groups.keys()].filter((id) => !ids.includes(id));
  for (const [id, instance] of await deps.compute.describeInstances(owners)) facts.set(id, instance);
  // A batch shares its load balancer calls: one discovery, one (de)registration per target group.
  const olds = [...groups.values()]
    .flatMap((g) => (g.skip ? [] : [facts.get(g.instanceId)]))
    .filter((f) => f !== undefined);
  const batchDeps: HandoffDeps = {
    ...deps,
    ...(groups.size > 1
      ? {
          loadBalancing: new BatchedLoadBalancing(deps.loadBalancing, olds),
          // The replacements the workflows read, one DescribeInstances for those asked together.
          compute: new BatchedCompute(deps.compute),
        }
      : {}),
    // A batch's launches go out per group in at most three fleet requests.
    fleets: new GroupFleets(deps),
  };
  const outcomes = await mapConcurrently(
    [...groups.values()],
    PARALLEL_WORKFLOWS,
    async (group) => {
      batchDeps.fleets!.started();
      try {
        return await untilWritten(group, facts.get(group.instanceId), batchDeps, run);
      } catch (error) {
        attribute(error, group);
        throw error;
      } finally {
        batchDeps.fleets!.finished();
      }
    },
    { afterFailure: 'finish' },
  );
  await Promise.all((await delivery.drained).values());
  if (run.failOnLaunchError) throwTogether(notLaunched(outcomes, groups), 'replacements');
  return outcomes;
}

/** The events whose workflows each failure of {@link eachWorkflow} left undone. */
const failedEvents = new WeakMap<object, Set<string>>();

function attribute(error: unknown, group: WorkflowGroup): void {
  if (typeof error !== 'object' || error === null) return;
  const events = failedEvents.get(error) ?? new Set<string>();
  for (const signal of group.signals) events.add(signal.eventId);
  failedEvents.set(error, events);
}

/**
 * The events whose workflows a failure of a batch left undone (their redelivery redoes nothing
 * twice), or undefined when part of the failure belongs to no workflow (a read the whole batch
 * shares, say): then every event of the batch is to be delivered again.
 * @example
 * catch (error) { const retry = eventsOfFailure(error) ?? allEventIds; }
 */
export function eventsOfFailure(error: unknown): Set<string> | undefined {
  const parts = error instanceof AggregateError ? error.errors : [error];
  const events = new Set<string>();
  for (const part of parts) {
    const own = typeof part === 'object' && part !== null ? failedEvents.get(part) : undefined;
    if (!own) return undefined;
    for (const eventId of own) events.add(eventId);
  }
  return events;
}

/**
 * Which workflow each signal belongs to: its instance's, or the one its instance is the
 * replacement of. A replacement's events go to the workflow that launched it, except once the
 * replacement has its own workflow: its interruption warning, a rebalance recommendation or a state
 * change showing its Spot reclaim starts one (it is then a managed instance like any other), and
 * every later event of it goes there. While the parent is open it still hears of them (it must
 * not register a replacement being reclaimed), and the replacement's own workflow only drains
 * until the parent has finished (`handoff.ts`).
 */
async function groupByWorkflow(
  signals: readonly Signal[],
  facts: Map<string, InstanceFacts>,
  deps: HandoffDeps,
): Promise<Map<string, WorkflowGroup>> {
  const { tags } = deps.settings;
  const groups = new Map<string, WorkflowGroup>();
  const groupOf = (instanceId: string) => {
    const group = groups.get(instanceId) ?? { instanceId, signals: [], replacementIds: new Set<string>() };
    groups.set(instanceId, group);
    return group;
  };
  for (const signal of signals) {
    const instance = facts.get(signal.instanceId);
    // A careful replace of a replacement (e.g. an On-Demand fallback reverting to Spot) is its own
    // workflow, and the sweep names the workflow it re-examines by its own instance.
    const replaces =
      signal.kind === 'replace' || (signal.kind === 'sweep' && signal.workflowOf === 'instance')
        ? undefined
        : (instance?.tags[tags.replaces] ??
          (instance ? undefined : await originalOf(signal.instanceId, deps.store)));
    const own = replaces ? await ownWorkflowOfReplacement(signal, instance, replaces, deps) : undefined;
    if (replaces && own?.parentOpen !== false) {
      const group = groupOf(replaces);
      group.replacementIds.add(signal.instanceId);
      group.signals.push({ ...signal, kind: 'state-change', state: instance?.state ?? 'terminated' });
      if (!own) continue;
    }
    const group = groupOf(signal.instanceId);
    group.signals.push(signal);
    if (replaces) group.parentWorkflowId = workflowIdFor(replaces);
    if (instance && instance.tags[tags.managed] !== 'true') {
      group.skip = {
        result: 'unmanaged',
        reason: `Instance is not tagged ${tags.managed}=true; left alone.`,
      };
    }
  }
  return groups;
}

async function originalOf(instanceId: string, store: WorkflowStore): Promise<string | undefined> {
  const workflowId = await store.workflowOfReplacement(instanceId);
  return workflowId ? (await store.get(workflowId))?.instanceId : undefined;
}

/**
 * Whether a replacement's signal goes to the replacement's own workflow: one exists, or the signal
 * starts one (the replacement the parent holds now is warned, recommended for rebalancing or seen
 * reclaimed; a parent serving a standby keeps its standby's events). With it, whether the parent is
 * still open.
 */
async function ownWorkflowOfReplacement(
  signal: Signal,
  instance: InstanceFacts | undefined,
  replaces: string,
  deps: HandoffDeps,
): Promise<{ parentOpen: boolean } | undefined> {
  const [own, parent] = await Promise.all([
    deps.store.get(workflowIdFor(signal.instanceId)),
    deps.store.get(workflowIdFor(replaces)),
  ]);
  const parentOpen = parent !== undefined && parent.status !== 'completed';
  if (own) return { parentOpen };
  const reclaim = signal.kind === 'warning' || signal.kind === 'rebalance' || signal.kind === 'state-change';
  if (!reclaim || !startsWorkflow(signal, instance, deps.settings)) return undefined;
  if (parent?.replacement?.instanceId !== signal.instanceId || parent.status === 'standby') return undefined;
  return { parentOpen };
}

/** One workflow's pass, re-run from a fresh read whenever a concurrent writer wins. */
async function untilWritten(
  group: WorkflowGroup,
  old: InstanceFacts | undefined,
  deps: HandoffDeps,
  run: WorkflowRun,
): Promise<InstanceOutcome> {
  const { instanceId } = group;
  const workflowId = workflowIdFor(instanceId);
  const log = deps.log.with({ instanceId, workflowId });
  if (group.skip) {
    log.info(group.skip.reason, { outcome: group.skip.result });
    deps.metrics.count('UnmanagedInstancesSkipped');
    return { instanceId, ...group.skip };
  }
  for (let race = 0; race < MAX_WRITE_RACES; race++) {
    const stored = await deps.store.get(workflowId);
    if (!stored && old === undefined) {
      // Nothing is recorded for what does not exist (a made-up id, or one EC2 has forgotten).
      deps.metrics.count('UnknownInstanceEvents');
      const reason = 'EC2 does not know this instance and no workflow exists for it: nothing recorded.';
      log.warn(reason, { signals: group.signals.map((s) => s.kind) });
      return { instanceId, result: 'no-op', reason };
    }
    if (
      !stored &&
      !group.signals.some((s) => s.instanceId === instanceId && startsWorkflow(s, old, deps.settings))
    ) {
      const reason = 'No interruption signal for this instance and no workflow: nothing to do.';
      log.debug(reason, { signals: group.signals.map((s) => s.kind) });
      return { instanceId, result: 'no-op', reason };
    }
    const workflow = stored ?? run.open(instanceId, old, group.signals, deps);
    if (!stored && group.parentWorkflowId) workflow.parent = { workflowId: group.parentWorkflowId };
    const saved = await run.progress(workflow, stored === undefined, group, old, deps, log);
    if (saved) return { instanceId, result: 'workflow', workflow: saved };
    deps.metrics.count('WriteConflicts');
    log.info('Another invocation updated the workflow first; re-reading it.');
  }
  throw new WorkflowContentionError(
    `Workflow ${workflowId} kept changing under this invocation (${MAX_WRITE_RACES} write races); it will be retried.`,
  );
}

/** A replacement that could not be launched, for each workflow left waiting for one. */
function notLaunched(
  outcomes: readonly InstanceOutcome[],
  groups: ReadonlyMap<string, WorkflowGroup>,
): ReplacementNotLaunchedError[] {
  return outcomes.flatMap((o) => {
    if (o.result !== 'workflow' || !needsRetry(o.workflow)) return [];
    const error = o.workflow.replacement?.lastError;
    const failure = new ReplacementNotLaunchedError(
      `Replacement for ${o.instanceId} not launched: ${error?.code}: ${error?.message}. Recorded in ${o.workflow.workflowId}; the invocation will be retried.`,
    );
    const group = groups.get(o.instanceId);
    if (group) attribute(failure, group);
    return [failure];
  });
}

function needsRetry(workflow: Workflow): boolean {
  return (
    workflow.status === 'in-progress' &&
    !workflow.replacement?.instanceId &&
    workflow.replacement?.lastError !== undefined
  );
}
