import { type HandoffDeps, handOff, type InstanceOutcome } from './handoff.ts';

/**
 * The periodic sweep: every open workflow is re-examined as if an event had come, so a lost or late
 * event, a launch that found no capacity, or an attachment still in progress never leaves a
 * workflow stuck. Safe to run any time: every step is idempotent.
 */
export async function sweepOpenWorkflows(deps: HandoffDeps, limit = 100): Promise<InstanceOutcome[]> {
  const open = await deps.store.list({ status: 'in-progress', limit });
  deps.metrics.count('WorkflowsSwept', open.length);
  if (open.length === 0) return [];
  const time = deps.clock.now().toISOString();
  deps.log.info(`Sweeping ${open.length} open workflows.`, { workflows: open.map((w) => w.workflowId) });
  return handOff(
    open.map((w) => ({ kind: 'sweep' as const, instanceId: w.instanceId, eventId: `sweep-${time}`, time })),
    deps,
    { failOnLaunchError: false },
  );
}
