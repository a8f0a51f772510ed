import { throwTogether } from './concurrency.ts';
import { policyOf } from './group-policy.ts';
import { guardStatefulInstances } from './guard.ts';
import { handOff, type InstanceOutcome } from './handoff.ts';
import { sweepOrphans } from './orphans.ts';
import { overdue, standbyEndDue } from './plan.ts';
import type { HandoffDeps } from './ports.ts';

/**
 * The periodic sweep: first the guard (stateful instances' data survives termination ahead of any
 * event), then every open workflow is re-examined as if an event had come, so a lost or late
 * event, a launch that found no capacity, or an attachment still in progress never leaves a
 * workflow stuck. Safe to run any time: every step is idempotent.
 */
export async function sweepOpenWorkflows(deps: HandoffDeps, limit = 100): Promise<InstanceOutcome[]> {
  // A failing guard must not stop the sweep, nor the sweep the guard; the invocation still fails
  // afterwards (for the alarm), with every failure.
  const [guarded, swept] = await Promise.allSettled([guardStatefulInstances(deps), sweep(deps, limit)]);
  throwTogether(
    [guarded, swept].flatMap((part) => (part.status === 'rejected' ? [part.reason] : [])),
    'parts of the sweep',
  );
  return swept.status === 'fulfilled' ? swept.value : [];
}

/**
 * Every open workflow, re-examined; the overdue ones reported. A standby that has served its
 * `standby.maxAgeMinutes` without a warning is re-examined too: it ends (promoted or retired).
 */
async function sweep(deps: HandoffDeps, limit: number): Promise<InstanceOutcome[]> {
  const inProgress = await deps.store.list({ status: 'in-progress', limit });
  await sweepOrphans(deps, inProgress);
  const now = deps.clock.now();
  const endingStandbys = (await deps.store.list({ status: 'standby' })).filter(
    (w) => standbyEndDue(w, policyOf(deps.settings.policies, w.group), now) !== undefined,
  );
  const open = [...inProgress, ...endingStandbys];
  deps.metrics.count('WorkflowsSwept', open.length);
  const late = open.flatMap((w) => {
    const step = overdue(w, now);
    return step ? [{ workflowId: w.workflowId, instanceId: w.instanceId, step }] : [];
  });
  deps.metrics.count('OverdueWorkflows', late.length);
  for (const { workflowId, instanceId, step } of late) {
    deps.log
      .with({ workflowId, instanceId })
      .warn(`Overdue: ${step} has passed its deadline; see the workflow's reason.`);
  }
  const time = deps.clock.now().toISOString();
  if (open.length > 0)
    deps.log.info(`Sweeping ${open.length} open workflows.`, { workflows: open.map((w) => w.workflowId) });
  return handOff(
    open.map((w) => ({ kind: 'sweep' as const, instanceId: w.instanceId, eventId: `sweep-${time}`, time })),
    deps,
    { failOnLaunchError: false },
  );
}
