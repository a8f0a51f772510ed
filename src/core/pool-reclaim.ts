import type { InstanceOutcome } from './batch.ts';
import { type CarefulCandidate, startWithinChurnBudget } from './churn-budget.ts';
import type { HandoffDeps } from './ports.ts';

/**
 * The whole-pool action: interruptions come in clusters (over 92% of simultaneous interruptions
 * of one type in one AZ fall within 3 minutes), so once a pool (instance type × AZ) has had
 * `poolReclaim.threshold` interruptions within `windowMinutes`, EC2 is taking the pool back. From
 * that moment the choice avoids the pool for `avoidMinutes` ({@link poolStandings}), even after
 * those interruptions have left the window; a group with `poolReclaim.replaceAhead` also replaces
 * its other instances in a pool whose interruptions are at the threshold within the window before
 * their own warnings come, the careful way, no more at once than its churn budget allows. Pure
 * decisions here; the action is {@link replaceAheadOfReclaim}.
 */

export interface PoolOf {
  instanceType: string;
  availabilityZone: string;
}

const keyOf = (pool: PoolOf) => `${pool.instanceType}|${pool.availabilityZone}`;

/** A group's pool-reclaim rule (`poolReclaim` of its policy). */
export interface PoolReclaimRule {
  threshold: number;
  windowMinutes: number;
  avoidMinutes: number;
}

/** How far back the pool memory must be read for a rule: the window before the last crossing that can still hold. */
export const lookbackMs = (rule: PoolReclaimRule): number =>
  (rule.windowMinutes + rule.avoidMinutes) * 60_000;

/** What one rule makes of a pool's remembered interruptions. */
export interface PoolStanding {
  /** Interruptions within the window before now. */
  recent: number;
  /** Set while the pool is avoided: the latest crossing of the threshold, and when its avoidance ends. */
  avoided?: { crossedAt: string; until: string };
}

/**
 * Each pool's standing under `rule`: its interruptions within the window, and whether it is
 * avoided. A pool crosses the threshold at an interruption that is the `threshold`-th within the
 * window ending there; it is avoided for `avoidMinutes` from its latest crossing.
 *
 * @example
 * // threshold 3 within 10 min, avoided 30 min: three at 12:00–12:02, now 12:20 (none in the window)
 * poolStandings(new Map([['m5.large|us-east-1a', [t0, t1, t2]]]), rule, at('12:20')).get('m5.large|us-east-1a');
 * // { recent: 0, avoided: { crossedAt: '…12:02…', until: '…12:32…' } }
 */
export function poolStandings(
  history: ReadonlyMap<string, readonly number[]>,
  rule: PoolReclaimRule,
  now: Date,
): Map<string, PoolStanding> {
  const windowMs = rule.windowMinutes * 60_000;
  const end = now.getTime();
  const standings = new Map<string, PoolStanding>();
  for (const [key, remembered] of history) {
    const times = remembered.filter((t) => t <= end).sort((a, b) => a - b);
    const recent = times.filter((t) => t >= end - windowMs).length;
    let crossedAt: number | undefined;
    let first = 0;
    times.forEach((t, i) => {
      while (times[first]! < t - windowMs) first += 1;
      if (i - first + 1 >= rule.threshold) crossedAt = t;
    });
    const until = crossedAt === undefined ? undefined : crossedAt + rule.avoidMinutes * 60_000;
    const avoided =
      crossedAt !== undefined && until !== undefined && until > end
        ? { crossedAt: new Date(crossedAt).toISOString(), until: new Date(until).toISOString() }
        : undefined;
    if (recent > 0 || avoided) standings.set(key, { recent, ...(avoided ? { avoided } : {}) });
  }
  return standings;
}

/** The pools whose recent interruptions (by `type|az`) reached the threshold: being reclaimed. */
export function reclaimedPools(recent: ReadonlyMap<string, number>, threshold: number): Set<string> {
  return new Set([...recent].filter(([, count]) => count >= threshold).map(([key]) => key));
}

/** The recent interruptions per pool, of the standings. */
export const recentCounts = (standings: ReadonlyMap<string, PoolStanding>): Map<string, number> =>
  new Map([...standings].filter(([, s]) => s.recent > 0).map(([key, s]) => [key, s.recent]));

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
    const history = await deps.poolMemory.interruptionsSince(
      new Date(now.getTime() - poolReclaim.windowMinutes * 60_000),
      now,
    );
    const recent = recentCounts(poolStandings(history, poolReclaim, now));
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
