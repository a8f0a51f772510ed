import { REPLACES_TAG } from '../config.ts';
import type { Signal } from './events.ts';
import {
  absorb,
  clientTokenFor,
  deadlineOf,
  isStoppedOrGoing,
  keptPrimaryIp,
  type PlanSettings,
  planNext,
  replacementTags,
  replacementTargets,
  settle,
  snapshotOf,
  startsWorkflow,
} from './plan.ts';
import type {
  Clock,
  Compute,
  InstanceFacts,
  LoadBalancing,
  Log,
  Metrics,
  StatefulResources,
} from './ports.ts';
import {
  handOverPass,
  handoverSettled,
  inventory,
  launchSubnet,
  migrate,
  migrationTarget,
  protect,
  READY_TAG,
  rootVolumeOf,
  snapshotRoot,
  statefulOptions,
} from './stateful.ts';
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
const PARALLEL_WORKFLOWS = 16;

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
  const outcomes = await mapLimit([...groups.values()], PARALLEL_WORKFLOWS, (group) =>
    advance(group, facts, deps),
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

/** The actions of one pass, each recorded as a step of the workflow. */
class Pass {
  constructor(
    private readonly workflow: Workflow,
    private readonly deps: HandoffDeps,
    private readonly log: Log,
  ) {}

  step(name: StepName, status: 'done' | 'failed' | 'skipped', detail?: string): void {
    const now = this.deps.clock.now();
    const deadline = deadlineOf(this.workflow, name);
    const late = deadline !== undefined && now.getTime() > Date.parse(deadline);
    this.workflow.steps.push({
      name,
      status,
      at: now.toISOString(),
      elapsedMs: now.getTime() - Date.parse(this.workflow.startedAt),
      detail,
      ...(deadline ? { deadline } : {}),
      ...(late ? { late } : {}),
    });
    if (late) this.deps.metrics.count('StepsLate');
    const message = `${name}: ${status}${detail ? ` (${detail})` : ''}${late ? ` — late, was due ${deadline}` : ''}`;
    if (late) this.log.warn(message, { step: name, status, deadline });
    else this.log.info(message, { step: name, status });
  }

  countStart(): void {
    const { metrics } = this.deps;
    metrics.count('WorkflowsStarted');
    if (this.workflow.signals.warning) metrics.count('InterruptionWarnings');
    if (this.workflow.signals.rebalance) metrics.count('RebalanceRecommendations');
  }

  observeOld(oldNow: InstanceFacts | undefined): void {
    const state = oldNow?.state ?? 'gone';
    if (state === this.workflow.oldInstanceState || !this.workflow.instance) return;
    this.workflow.oldInstanceState = state;
    if (!isStoppedOrGoing(state)) return;
    const handoverBy = new Date(
      this.deps.clock.now().getTime() + this.deps.settings.handoverTimeoutMs,
    ).toISOString();
    this.workflow.deadlines = {
      ...this.workflow.deadlines,
      handoverBy: this.workflow.deadlines?.handoverBy ?? handoverBy,
    };
    this.step('old-instance-stopped', 'done', `old instance ${state}`);
  }

  /** Only a replacement the workflow launched counts: its id comes from our own ClientToken. */
  async describeReplacement(): Promise<InstanceFacts | undefined> {
    const r = this.workflow.replacement;
    const found = r?.instanceId
      ? (await this.deps.compute.describeInstances([r.instanceId])).get(r.instanceId)
      : undefined;
    if (found && r && found.state !== r.state) {
      r.state = found.state;
      r.availabilityZone = found.availabilityZone;
      r.privateIpAddress = found.privateIpAddress;
      if (found.state === 'running') this.step('replacement-running', 'done', found.instanceId);
    }
    return found;
  }

  async findTargets(old: InstanceFacts): Promise<void> {
    const found = await this.deps.loadBalancing.findTargets([old]);
    this.workflow.targets = found.byInstance.get(old.instanceId) ?? [];
    this.countElb(found.calls);
    this.step(
      'targets-found',
      'done',
      `${this.workflow.targets.length} registrations, ${found.calls} ELB calls`,
    );
  }

  async protect(old: InstanceFacts): Promise<void> {
    const handover = this.workflow.handover!;
    if (old.state === 'shutting-down' || old.state === 'terminated') {
      handover.protectedAt = this.deps.clock.now().toISOString();
      this.step(
        'protect',
        'skipped',
        `old instance already ${old.state}: EC2 keeps what was set to survive termination`,
      );
      return;
    }
    const detail = await protect(this.workflow, old, this.deps.stateful);
    handover.protectedAt = this.deps.clock.now().toISOString();
    this.step('protect', 'done', detail);
  }

  async snapshotRoot(): Promise<void> {
    const detail = await snapshotRoot(this.workflow, this.deps.stateful, this.deps.settings.managedTagKey);
    if (detail) this.step('root-snapshot', 'done', detail);
  }

  async drain(): Promise<void> {
    const targets = this.workflow.targets ?? [];
    const { calls } = targets.length > 0 ? await this.deps.loadBalancing.deregister(targets) : { calls: 0 };
    this.workflow.drained = true;
    this.countElb(calls);
    this.deps.metrics.count('TargetsDeregistered', targets.length);
    this.step('drain', 'done', `deregistered from ${targets.length} registrations, ${calls} ELB calls`);
  }

  /** Launches the replacement; a stateful one that finds no capacity in its AZ migrates once at once. Returns its id. */
  async launch(): Promise<string | undefined> {
    const launched = await this.tryLaunch();
    if (launched || !this.workflow.handover || !this.workflow.instance?.vpcId) return launched;
    const target = migrationTarget(
      this.workflow,
      await this.deps.stateful.subnetsOf(this.workflow.instance.vpcId),
    );
    if (!target) return undefined;
    const error = this.workflow.replacement?.lastError;
    migrate(this.workflow, target, `no capacity in ${launchAz(this.workflow)} (${error?.code})`);
    this.step(
      'launch',
      'skipped',
      `migrating to ${target.availabilityZone} (${target.subnetId}); volumes follow by snapshot`,
    );
    return this.tryLaunch();
  }

  private async tryLaunch(): Promise<string | undefined> {
    const { workflow, deps } = this;
    const instance = workflow.instance!;
    workflow.replacement ??= { attempt: 1, clientToken: clientTokenFor(workflow.workflowId, 1) };
    const r = workflow.replacement;
    const subnetId = launchSubnet(workflow)!;
    const result = await deps.compute.launch({
      clientToken: r.clientToken,
      launchTemplate: instance.launchTemplate!,
      subnetId,
      privateIpAddress: keptPrimaryIp(workflow),
      rootSnapshot: rootSnapshotOf(workflow),
      tags: replacementTags(workflow),
    });
    if (result.ok) {
      r.instanceId = result.instanceId;
      r.state = 'pending';
      r.subnetId = subnetId;
      delete r.lastError;
      deps.metrics.count('ReplacementsLaunched');
      this.step('launch', 'done', `${result.instanceId} in ${subnetId} (ClientToken ${r.clientToken})`);
      return result.instanceId;
    }
    r.lastError = { code: result.code, message: result.message, at: deps.clock.now().toISOString() };
    r.attempt += 1;
    r.clientToken = clientTokenFor(workflow.workflowId, r.attempt);
    deps.metrics.count('ReplacementLaunchFailures');
    this.step('launch', 'failed', `${result.code}: ${result.message}`);
    return undefined;
  }

  /**
   * Moves what is ready, then verifies the moves: address moves take effect at once, attachments
   * within seconds (waited for up to `attachWaitMs`; after that the sweep verifies them). Tags the
   * replacement ready when everything has settled.
   */
  async handOver(replacement: InstanceFacts): Promise<InstanceFacts> {
    const { workflow, deps } = this;
    const handover = workflow.handover!;
    let current = replacement;
    const waitUntil = deps.clock.now().getTime() + deps.settings.attachWaitMs;
    for (let round = 0; !handoverSettled(handover); round++) {
      if (round >= 2) {
        if (deps.clock.now().getTime() >= waitUntil) break;
        await deps.clock.sleep(1_000);
      }
      const moved = await handOverPass({
        workflow,
        replacement: current,
        oldState: workflow.oldInstanceState ?? 'gone',
        managedTagKey: deps.settings.managedTagKey,
        stateful: deps.stateful,
        now: () => deps.clock.now(),
      });
      for (const line of moved) this.log.info(`handover: ${line}`, { step: 'handover' });
      if (!handover.resources.some((r) => r.status === 'moving')) break;
      current =
        (await deps.compute.describeInstances([current.instanceId])).get(current.instanceId) ?? current;
    }
    if (handoverSettled(handover)) {
      await deps.stateful.tag([current.instanceId], { [READY_TAG]: 'ready' });
      handover.readyAt = deps.clock.now().toISOString();
      const left = handover.resources.filter((r) => r.status === 'left-available').length;
      this.step(
        'handover',
        'done',
        `${handover.resources.length - left} resources moved${left ? `, ${left} left available` : ''}; tagged ${READY_TAG}=ready`,
      );
    }
    return current;
  }

  async register(replacement: InstanceFacts): Promise<void> {
    const { workflow, deps } = this;
    const { targets, notCarried } = replacementTargets(workflow, replacement);
    const { calls } = targets.length > 0 ? await deps.loadBalancing.register(targets) : { calls: 0 };
    workflow.registered = targets;
    this.countElb(calls);
    deps.metrics.count('TargetsRegistered', targets.length);
    const lost =
      notCarried.length > 0
        ? `; not carried over: ${notCarried.map((t) => `${t.id}:${t.port}`).join(', ')}`
        : '';
    this.step('register', 'done', `${targets.length} registrations, ${calls} ELB calls${lost}`);
    deps.metrics.handoffSeconds((deps.clock.now().getTime() - Date.parse(workflow.startedAt)) / 1000);
  }

  settle(): void {
    const { workflow, deps } = this;
    const before = workflow.status;
    settle(workflow, deps.clock.now(), deps.settings.retentionDays);
    if (workflow.status === 'completed' && before !== 'completed') {
      this.step('completed', 'done', `${workflow.outcome}: ${workflow.reason}`);
      deps.metrics.count('WorkflowsCompleted');
    }
  }

  private countElb(calls: number): void {
    this.workflow.elbCalls += calls;
    this.deps.metrics.count('ElbApiCalls', calls);
  }
}

/** The root volume's snapshot to launch from, when its data is carried. */
function rootSnapshotOf(workflow: Workflow) {
  const root = rootVolumeOf(workflow);
  return root?.snapshotId ? { deviceName: root.deviceName, snapshotId: root.snapshotId } : undefined;
}

const launchAz = (workflow: Workflow) =>
  workflow.handover?.migration?.availabilityZone ?? workflow.instance?.availabilityZone;

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
