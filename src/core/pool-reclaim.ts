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
 * Which of a group's instances in the reclaimed pools to replace now: those that have no workflow
 * yet (a warned one is handled already), at most `room` of them (the churn budget left), in id
 * order so two sweeps agree. Each with the reason the record will carry.
 */
export function replaceAheadCandidates(
  members: readonly GroupMember[],
  situation: {
    reclaimed: ReadonlySet<string>;
    recent: ReadonlyMap<string, number>;
    handled: ReadonlySet<string>;
    room: number;
    windowMinutes: number;
  },
): { instanceId: string; reason: string }[] {
  return members
    .filter((m) => situation.reclaimed.has(keyOf(m)) && !situation.handled.has(m.instanceId))
    .sort((a, b) => a.instanceId.localeCompare(b.instanceId))
    .slice(0, Math.max(0, situation.room))
    .map((m) => ({
      instanceId: m.instanceId,
      reason: `Pool ${m.instanceType} in ${m.availabilityZone} is being reclaimed (${situation.recent.get(keyOf(m))} interruptions within ${situation.windowMinutes} min): ${m.instanceId} is replaced ahead of its own warning.`,
    }));
}
