import type { InstanceOutcome } from './batch.ts';
import { type CarefulCandidate, startWithinChurnBudget } from './churn-budget.ts';
import type { HandoffDeps } from './ports.ts';

/**
 * The whole-pool action: interruptions come in clusters (over 92% of simultaneous interruptions
 * of one type in one AZ fall within 3 minutes), so once a pool (instance type × AZ) has had
 * `poolReclaim.threshold` interruptions within `windowMinutes`, EC2 is taking the pool back. The
 * choice already avoids it for `avoidMinutes` (the pool memory ranks it out); a group with
 * `poolReclaim.replaceAhead` also replaces its other instances in that pool before their own
 * warnings come, the careful way, no more at once than its churn budget allows. Pure decisions
 * here; the action is {@link replaceAheadOfReclaim}.
 */

export interface PoolOf {
  instanceType: string;
  availabilityZone: string;
}

const keyOf = (pool: PoolOf) => `${pool.instanceType}|${pool.availabilityZone}`;

/** The pools whose recent interruptions (by `type|az`) reached the threshold: being reclaimed. */
export function reclaimedPools(recent: ReadonlyMap<string, number>, threshold: number): Set<string> {
  return new Set([...recent].filter(([, count]) => count >= threshold).map(([key]) => key));
}

export interface GroupMember extends PoolOf {
  instanceId: string;
}

/**
 * Which of a group's instances in the reclaimed pools to replace ahead: those that have no
 * workflow yet (a warned one is handled already), in id order so two sweeps agree (the churn
 * budget then takes the first ones). Each with the reason the record will carry.
 */
export function replaceAheadCandidates(
  members: readonly GroupMember[],
  situation: {
    reclaimed: ReadonlySet<string>;
    recent: ReadonlyMap<string, number>;
    handled: ReadonlySet<string>;
    windowMinutes: number;
  },
): { instanceId: string; reason: string }[] {
  return members
    .filter((m) => situation.reclaimed.has(keyOf(m)) && !situation.handled.has(m.instanceId))
    .sort((a, b) => a.instanceId.localeCompare(b.instanceId))
    .map((m) => ({
      instanceId: m.instanceId,
      reason: `Pool ${m.instanceType} in ${m.availabilityZone} is being reclaimed (${situation.recent.get(keyOf(m))} interruptions within ${situation.windowMinutes} min): ${m.instanceId} is replaced ahead of its own warning.`,
    }));
}

/**
 * The sweep's part: for each group whose policy asks for `poolReclaim.replaceAhead`, the pools
 * whose interruptions reached the threshold within the window, and a careful replace (kind
 * `pool-reclaim`) of the group's other running instances there, within its churn budget.
 */
export async function replaceAheadOfReclaim(deps: HandoffDeps): Promise<InstanceOutcome[]> {
  const groups = Object.entries(deps.settings.policy?.groups ?? {}).filter(
    ([, policy]) => policy.poolReclaim.replaceAhead,
  );
  if (groups.length === 0 || !deps.poolMemory) return [];
  const now = deps.clock.now();
  const { tags } = deps.settings;
  const handled = new Set((await deps.store.list({ status: 'in-progress' })).map((w) => w.instanceId));
  const candidates: CarefulCandidate[] = [];
  for (const [group, { poolReclaim }] of groups) {
    const recent = await deps.poolMemory.recent(poolReclaim.windowMinutes * 60_000, now);
    const reclaimed = reclaimedPools(recent, poolReclaim.threshold);
    if (reclaimed.size === 0) continue;
    const members = await deps.compute.instancesTagged({ [tags.managed]: 'true', [tags.group]: group });
    const running = members.filter((m) => m.state === 'running');
    for (const c of replaceAheadCandidates(running, {
      reclaimed,
      recent,
      handled,
      windowMinutes: poolReclaim.windowMinutes,
    }))
      candidates.push({ ...c, group });
  }
  return startWithinChurnBudget(candidates, 'pool-reclaim', deps);
}
