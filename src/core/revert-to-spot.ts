import type { InstanceOutcome } from './batch.ts';
import { startWithinChurnBudget } from './churn-budget.ts';
import type { HandoffDeps } from './ports.ts';
import { workflowIdFor } from './workflow.ts';

/**
 * Revert to Spot: an On-Demand fallback (a replacement launched On-Demand because no allowed Spot
 * pool had capacity) is replaced by Spot once Spot has capacity again, the careful way: the Spot
 * replacement first, registered and healthy, then the On-Demand one drained and terminated. The
 * sweep looks for fallbacks; the Spot launch itself is the test of capacity (EC2 has no other): a
 * revert that finds none stays open and the sweep tries again. Pure decisions here; the sweep's
 * action is {@link revertFallbacksToSpot}.
 */

/** A group's `revertToSpot`: never, whenever Spot has capacity, or only inside a daily UTC window. */
export type RevertToSpot = 'never' | 'always' | { window: string };

const minutesOf = (hhmm: string) => {
  const [h, m] = hhmm.split(':').map(Number);
  return h! * 60 + m!;
};

/**
 * May a fallback revert now? A window `"HH:MM-HH:MM"` is UTC, start included, end excluded; one
 * whose end is before its start runs over midnight (`"22:00-06:00"`); equal ends: all day.
 */
export function revertAllowedAt(revert: RevertToSpot, now: Date): boolean {
  if (revert === 'never') return false;
  if (revert === 'always') return true;
  const [from, to] = revert.window.split('-') as [string, string];
  const start = minutesOf(from);
  const end = minutesOf(to);
  const minute = now.getUTCHours() * 60 + now.getUTCMinutes();
  if (start === end) return true;
  return start < end ? minute >= start && minute < end : minute >= start || minute < end;
}

/** What the choice reads of a finished workflow. */
export interface FallbackRecord {
  workflowId: string;
  status: string;
  outcome?: string;
  group?: string;
  replacement?: {
    instanceId?: string;
    capacityType?: string;
    pool?: { instanceType: string; availabilityZone: string };
    hourlyPrice?: number;
  };
}

export interface RevertCandidate {
  /** The On-Demand fallback to replace by Spot. */
  instanceId: string;
  group?: string;
  /** The workflow that launched it On-Demand. */
  fallbackOf: string;
  reason: string;
}

/**
 * The fallbacks to revert now: replacements recorded as launched `on-demand` (not `reserved`: an
 * RI is paid for either way) that still run, have no workflow of their own yet (one revert per
 * instance; an interruption or alarm already handling it wins), and whose group allows it now.
 */
export function revertCandidates(
  finished: readonly FallbackRecord[],
  situation: {
    /** Instances that still run. */
    running: ReadonlySet<string>;
    /** Instances that already have a workflow of their own. */
    handled: ReadonlySet<string>;
    revertToSpotOf: (group: string | undefined) => RevertToSpot;
    now: Date;
  },
): RevertCandidate[] {
  const candidates: RevertCandidate[] = [];
  for (const w of finished) {
    const r = w.replacement;
    const instanceId = r?.instanceId;
    if (
      w.status !== 'completed' ||
      w.outcome !== 'replaced' ||
      r?.capacityType !== 'on-demand' ||
      !instanceId
    )
      continue;
    if (!situation.running.has(instanceId) || situation.handled.has(instanceId)) continue;
    const revert = situation.revertToSpotOf(w.group);
    if (!revertAllowedAt(revert, situation.now)) continue;
    const where = r.pool ? ` (${r.pool.instanceType} in ${r.pool.availabilityZone})` : '';
    const when =
      typeof revert === 'object' ? `revertToSpot window ${revert.window} UTC` : 'revertToSpot always';
    candidates.push({
      instanceId,
      group: w.group,
      fallbackOf: w.workflowId,
      reason: `On-Demand fallback ${instanceId}${where} of ${w.workflowId} goes back to Spot (${when}): a Spot replacement first, then it is drained and terminated.`,
    });
  }
  return candidates;
}

/**
 * The sweep's part: finds the On-Demand fallbacks that may revert now and starts a careful
 * replace (kind `revert-to-spot`) of each, within its group's churn budget. The replacement is
 * launched Spot only; without Spot capacity the workflow waits, and the sweep tries again.
 */
export async function revertFallbacksToSpot(deps: HandoffDeps): Promise<InstanceOutcome[]> {
  const fallbacks = await deps.store.onDemandFallbacks();
  const fallbackIds = fallbacks.flatMap((w) => (w.replacement?.instanceId ? [w.replacement.instanceId] : []));
  if (fallbackIds.length === 0) return [];
  const facts = await deps.compute.describeInstances(fallbackIds);
  const running = [...facts.values()].filter((f) => f.state === 'running').map((f) => f.instanceId);
  // A running fallback with a workflow of its own is handled already (one consistent get each).
  const own = await Promise.all(running.map((id) => deps.store.get(workflowIdFor(id))));
  const candidates = revertCandidates(fallbacks, {
    running: new Set(running),
    handled: new Set(own.flatMap((w) => (w ? [w.instanceId] : []))),
    revertToSpotOf: (group) => revertToSpotOf(deps, group),
    now: deps.clock.now(),
  });
  return startWithinChurnBudget(candidates, 'revert-to-spot', deps);
}

/** A group's `revertToSpot`; an instance with no group reverts whenever Spot has capacity. */
const revertToSpotOf = (deps: HandoffDeps, group: string | undefined): RevertToSpot =>
  (group !== undefined ? deps.settings.policy?.groups[group]?.revertToSpot : undefined) ?? 'always';
