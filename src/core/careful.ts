import type { Signal } from './events.ts';
import { handOff, type InstanceOutcome } from './handoff.ts';
import type { HandoffDeps } from './ports.ts';
import type { CarefulKind } from './workflow.ts';

/**
 * Careful replace, the one entry point for every replacement made while the old instance still
 * runs well (rebalance policy `replace`, alarm healing, whole-pool action, revert to Spot):
 * launch the replacement → running → registered in every target group of the old instance →
 * healthy in every one → drain the old instance → terminate it (only a managed one). The steps run
 * in the handoff's passes (`handoff.ts`), re-examined by the sweep until done.
 */

export interface CarefulRequest {
  instanceId: string;
  kind: CarefulKind;
  /** Why, in words; recorded as the workflow's `careful.reason`. */
  reason: string;
}

/**
 * Starts a careful replace of each instance (in one batch: shared reads and ELB calls). An
 * instance that already has a workflow keeps it (at most one replacement per instance); an
 * unmanaged instance is left alone; a stateful one is not replaced carefully (its state moves only
 * once it stops): each such outcome says so.
 * @example await startCarefulReplace('i-0abc…', 'unhealthy', 'alarm web-5xx in ALARM', deps)
 */
export async function startCarefulReplaces(
  requests: readonly CarefulRequest[],
  deps: HandoffDeps,
): Promise<InstanceOutcome[]> {
  if (requests.length === 0) return [];
  const time = deps.clock.now().toISOString();
  const facts = await deps.compute.describeInstances(requests.map((r) => r.instanceId));
  const refused: InstanceOutcome[] = [];
  const signals: Signal[] = [];
  for (const { instanceId, kind, reason } of requests) {
    if (facts.get(instanceId)?.tags[deps.settings.tags.stateful] === 'true') {
      refused.push({
        instanceId,
        result: 'no-op',
        reason: `Instance is tagged ${deps.settings.tags.stateful}=true: its state moves only once it stops, so it is not replaced carefully; its interruption is handled as usual.`,
      });
      continue;
    }
    signals.push({
      kind: 'replace',
      replaceKind: kind,
      reason,
      instanceId,
      eventId: `${kind}-${time}`,
      time,
    });
  }
  const started = signals.length > 0 ? await handOff(signals, deps, { failOnLaunchError: false }) : [];
  return [...started, ...refused];
}

/** {@link startCarefulReplaces} for one instance. */
export async function startCarefulReplace(
  instanceId: string,
  kind: CarefulKind,
  reason: string,
  deps: HandoffDeps,
): Promise<InstanceOutcome> {
  const [outcome] = await startCarefulReplaces([{ instanceId, kind, reason }], deps);
  return outcome!;
}
