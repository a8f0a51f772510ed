import type { InstanceOutcome } from './batch.ts';
import { throwTogether } from './concurrency.ts';
import { guardStatefulInstances } from './guard.ts';
import { handOff } from './handoff.ts';
import { sweepOrphans } from './orphans.ts';
import { overdue } from './plan.ts';
import { replaceAheadOfReclaim } from './pool-reclaim.ts';
import type { HandoffDeps } from './ports.ts';
import { revertFallbacksToSpot } from './revert-to-spot.ts';

/**
 * The periodic sweep: first the guard (stateful instances' data survives termination ahead of any
 * event), then every open workflow is re-examined as if an event had come, so a lost or late
 * event, a launch that found no capacity, or an attachment still in progress never leaves a
 * workflow stuck; then the capacity actions (whole-pool replace-ahead, revert to Spot). Safe to run
 * any time: every step is idempotent.
 */
export async function sweepOpenWorkflows(deps: HandoffDeps, limit = 100): Promise<InstanceOutcome[]> {
  // A failing guard must not stop the sweep, nor the sweep the guard; the invocation still fails
  // afterwards (for the alarm), with every failure.
  const [guarded, swept] = await Promise.allSettled([guardStatefulInstances(deps), sweep(deps, limit)]);
  // Then the capacity actions, which start careful replaces: the whole-pool action and the revert
  // of On-Demand fallbacks to Spot (each within its group's churn budget).
  const [ahead, reverted] = await Promise.allSettled([
    replaceAheadOfReclaim(deps),
    revertFallbacksToSpot(deps),
  ]);
  const parts = [guarded, swept, ahead, reverted];
  throwTogether(
    parts.flatMap((part) => (part.status === 'rejected' ? [part.reason] : [])),
    'parts of the sweep',
  );
  return [swept, ahead, reverted].flatMap((part) => (part.status === 'fulfilled' ? part.value : []));
}

/** Every open workflow, re-examined; the overdue ones reported. */
async function sweep(deps: HandoffDeps, limit: number): Promise<InstanceOutcome[]> {
  const open = await deps.store.list({ status: 'in-progress', limit });
  deps.metrics.count('WorkflowsSwept', open.length);
  await sweepOrphans(deps, open);
  const now = deps.clock.now();
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
