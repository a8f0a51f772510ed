import { type InstanceFacts, isLeavingOrGone } from '../facts.ts';
import { instanceRecord, replacementTargets, wantsDrain } from '../plan.ts';
import type { HandoffDeps, Log } from '../ports.ts';
import { inventory, statefulOptions } from '../stateful.ts';
import { type Workflow, workflowIdFor } from '../workflow.ts';

/**
 * A replacement that is itself interrupted. Its own workflow (`batch.ts` starts it) waits for the
 * workflow that launched it, so the state it holds has one mover at a time:
 *   - while the parent is open, the replacement's workflow is recorded and drains the replacement
 *     from where it serves, nothing more; the parent finishes its handover to it but does not
 *     register it, and leaves the registrations it meant for it to the replacement's workflow;
 *   - once the parent has finished (or the replacement is leaving, so the parent can move nothing
 *     more onto it), the replacement's workflow is released: it takes what the replacement holds
 *     then, finds where it serves again, and goes on like any interrupted instance's.
 * The sweep re-examines a held workflow every minute, as it does every open one.
 */

/** Whether the workflow still waits for its parent; releases it (and takes what its instance holds now) when not. */
export async function waitsForParent(
  workflow: Workflow,
  old: InstanceFacts | undefined,
  deps: HandoffDeps,
  log: Log,
): Promise<boolean> {
  const parent = workflow.parent;
  if (!parent || parent.releasedAt) return false;
  const stored = await deps.store.get(parent.workflowId);
  const parentOpen = stored !== undefined && stored.status !== 'completed';
  if (parentOpen && old !== undefined && !isLeavingOrGone(old.state)) {
    workflow.reason = `Replacement launched by ${parent.workflowId}, which is still open: drained only; it is replaced once ${parent.workflowId} has finished.`;
    return true;
  }
  parent.releasedAt = deps.clock.now().toISOString();
  // Where the parent meant this instance to serve, when it did not register it (its reclaim was
  // known, or it is leaving before the parent got that far).
  const unregistered =
    stored?.replacement?.instanceId === workflow.instanceId &&
    (stored.replacement.reclaimedBy === workflow.workflowId || stored.registered === undefined);
  if (unregistered && old) parent.inheritedTargets = replacementTargets(stored, old).targets;
  if (old) {
    // What the instance holds and where it serves now, after the parent's handover and registration.
    workflow.instance = instanceRecord(old);
    const options = statefulOptions(old.tags, deps.settings.tags);
    if (options) workflow.handover = inventory(old, options);
    delete workflow.targets;
    workflow.drained = false;
  }
  log.info(`Released: ${parent.workflowId} has finished or can move nothing more onto this instance.`, {
    parentWorkflowId: parent.workflowId,
    inheritedTargets: parent.inheritedTargets?.length ?? 0,
  });
  return false;
}

/**
 * The replacement's own workflow, when it says EC2 reclaims the replacement: the parent then does
 * not register it (a rebalance recommendation alone does not stop the registration).
 */
export async function reclaimOfReplacement(
  replacement: InstanceFacts,
  deps: HandoffDeps,
): Promise<string | undefined> {
  const own = await deps.store.get(workflowIdFor(replacement.instanceId));
  return own && wantsDrain(own) ? own.workflowId : undefined;
}
