import { type AlarmChange, type AlarmSubject, readAlarmChange } from './alarms.ts';
import { startCarefulReplaces } from './careful.ts';
import type { InstanceOutcome } from './handoff.ts';
import { eventIdOf } from './intake.ts';
import { groupOf, withinBudget } from './plan.ts';
import type { HandoffDeps, InstanceFacts } from './ports.ts';

/**
 * Alarm-driven auto-healing: an alarm marked for healing (its name starts with the configured
 * prefix) that goes into ALARM starts a careful replace (kind `unhealthy`) of each affected
 * managed instance: the one an EC2 status-check alarm names (`InstanceId`), or the unhealthy
 * managed targets of the target group an `UnHealthyHostCount` alarm names (`TargetGroup`).
 * Flapping causes no churn: an instance is healed at most once per cooldown (recorded in the
 * table), and an instance with a workflow keeps it. A group with too many instances unhealthy at
 * once (a bad deploy, not a bad host) is not healed: healing stops, logs an error and counts
 * `HealingSuspended`, for a person to look.
 */

export interface HealingResult {
  alarms: AlarmHealing[];
  /** Events that were valid but not for this function, with why. */
  ignored: { eventId: string; reason: string }[];
}

export interface AlarmHealing {
  alarmName: string;
  eventId: string;
  /** What was done, in words (healed, suspended, nothing affected…). */
  verdict: 'healing' | 'suspended' | 'nothing-to-heal';
  reason: string;
  outcomes: InstanceOutcome[];
  /** Instances left alone because they were healed within the cooldown. */
  coolingDown: string[];
}

/** Heals what each alarm event in ALARM names. */
export async function healFromAlarms(events: readonly unknown[], deps: HandoffDeps): Promise<HealingResult> {
  const result: HealingResult = { alarms: [], ignored: [] };
  deps.metrics.count('EventsReceived', events.length);
  for (const event of events) {
    const read = readAlarmChange(event);
    if ('ignored' in read) {
      result.ignored.push({ eventId: eventIdOf(event), reason: read.ignored });
      continue;
    }
    const { alarm } = read;
    const skip = notForHealing(alarm, deps.settings.healing.alarmPrefix);
    if (skip) {
      result.ignored.push({ eventId: alarm.eventId, reason: skip });
      continue;
    }
    deps.metrics.count('HealingAlarms');
    result.alarms.push(await healAlarm(alarm, deps));
  }
  for (const { eventId, reason } of result.ignored) {
    deps.metrics.count('IgnoredEvents');
    deps.log.info(`Event ignored: ${reason}`, { eventId });
  }
  return result;
}

function notForHealing(alarm: AlarmChange, prefix: string): string | undefined {
  if (alarm.state !== 'ALARM') return `alarm ${alarm.alarmName} went to ${alarm.state}, not ALARM`;
  if (!alarm.alarmName.startsWith(prefix))
    return `alarm ${alarm.alarmName} is not marked for healing (its name does not start with ${prefix})`;
  if (alarm.subjects.length === 0)
    return `alarm ${alarm.alarmName} names neither an InstanceId nor a TargetGroup dimension`;
  return undefined;
}

/** One alarm: who is affected, within the group's budget, out of cooldown, each replaced carefully. */
async function healAlarm(alarm: AlarmChange, deps: HandoffDeps): Promise<AlarmHealing> {
  const log = deps.log.with({ alarmName: alarm.alarmName });
  const base = { alarmName: alarm.alarmName, eventId: alarm.eventId, outcomes: [], coolingDown: [] };
  const groups = await Promise.all(alarm.subjects.map((subject) => affected(subject, deps)));
  const verdicts: AlarmHealing[] = [];
  for (const group of groups) {
    if (group.unhealthy.length === 0) continue;
    const healing = await alreadyHealing(group.members, deps);
    const newOnes = group.unhealthy.filter((i) => !healing.has(i.instanceId));
    const allowed = withinBudget(
      healing.size + newOnes.length - 1,
      group.members.length,
      deps.settings.healing.budgetPercent,
    );
    if (!allowed) {
      const reason = `${healing.size + newOnes.length} of ${group.members.length} managed instances of ${group.label} are unhealthy at once, over the healing budget of ${deps.settings.healing.budgetPercent}%: healing suspended (a bad deploy must not replace the whole fleet). Look at ${group.label}; heal by hand with a careful replace once the cause is known.`;
      log.error(reason, { group: group.label, unhealthy: newOnes.map((i) => i.instanceId) });
      deps.metrics.count('HealingSuspended');
      verdicts.push({ ...base, verdict: 'suspended', reason });
      continue;
    }
    const claimed: InstanceFacts[] = [];
    const coolingDown: string[] = [];
    const at = deps.clock.now();
    const { cooldownMs } = deps.settings.healing;
    const expiresAt = Math.floor((at.getTime() + cooldownMs) / 1000) + 86_400;
    for (const instance of newOnes) {
      if (
        await deps.store.claimHeal(instance.instanceId, {
          at,
          cooldownMs,
          alarmName: alarm.alarmName,
          expiresAt,
        })
      )
        claimed.push(instance);
      else coolingDown.push(instance.instanceId);
    }
    deps.metrics.count('HealingSkippedCooldown', coolingDown.length);
    if (coolingDown.length > 0)
      log.info(`Healed within the last ${cooldownMs / 60_000} min; left alone: ${coolingDown.join(', ')}.`);
    const reason = `alarm ${alarm.alarmName} in ALARM${alarm.metric ? ` (${alarm.metric})` : ''} at ${alarm.time}`;
    const outcomes = await startCarefulReplaces(
      claimed.map((i) => ({ instanceId: i.instanceId, kind: 'unhealthy' as const, reason })),
      deps,
    );
    deps.metrics.count('InstancesHealed', claimed.length);
    verdicts.push({
      ...base,
      verdict: claimed.length > 0 ? 'healing' : 'nothing-to-heal',
      reason:
        claimed.length > 0
          ? `healing ${claimed.map((i) => i.instanceId).join(', ')} in ${group.label}`
          : `nothing new to heal in ${group.label}`,
      outcomes,
      coolingDown,
    });
  }
  if (verdicts.length === 0)
    return {
      ...base,
      verdict: 'nothing-to-heal',
      reason: 'no managed instance the alarm names is unhealthy',
    };
  // An alarm names one subject in practice; several are reported together, the worst first.
  const worst = verdicts.find((v) => v.verdict === 'suspended') ?? verdicts[0]!;
  return {
    ...worst,
    outcomes: verdicts.flatMap((v) => v.outcomes),
    coolingDown: verdicts.flatMap((v) => v.coolingDown),
  };
}

/** The group an alarm's subject belongs to, its managed members, and the unhealthy ones among them. */
interface AffectedGroup {
  label: string;
  members: InstanceFacts[];
  unhealthy: InstanceFacts[];
}

async function affected(subject: AlarmSubject, deps: HandoffDeps): Promise<AffectedGroup> {
  const { tags } = deps.settings;
  const managed = (i: InstanceFacts | undefined): i is InstanceFacts =>
    i !== undefined && i.tags[tags.managed] === 'true' && i.state === 'running';
  if (subject.kind === 'instance') {
    const instance = (await deps.compute.describeInstances([subject.instanceId])).get(subject.instanceId);
    if (!managed(instance)) return { label: subject.instanceId, members: [], unhealthy: [] };
    const group = groupOf(instance, tags);
    const members = (
      await deps.compute.instancesTagged({
        [tags.managed]: 'true',
        ...(group ? { [tags.group]: group } : {}),
      })
    ).filter((m) => group !== undefined || !m.tags[tags.group]);
    return { label: group ? `group ${group}` : 'the instances of no group', members, unhealthy: [instance] };
  }
  const health = await deps.loadBalancing.targetGroupHealth(subject.targetGroup);
  if (!health) return { label: subject.targetGroup, members: [], unhealthy: [] };
  const running = await deps.compute.instancesTagged({ [tags.managed]: 'true' });
  const ownerOf = (id: string) =>
    running.find(
      (i) =>
        i.instanceId === id ||
        i.privateIpAddress === id ||
        i.networkInterfaces.some((e) => e.privateIps.some((p) => p.privateIpAddress === id)),
    );
  const members = new Map<string, InstanceFacts>();
  const unhealthy = new Map<string, InstanceFacts>();
  for (const target of health.targets) {
    const owner = ownerOf(target.id);
    if (!managed(owner) || target.state === 'draining') continue;
    members.set(owner.instanceId, owner);
    if (target.state === 'unhealthy') unhealthy.set(owner.instanceId, owner);
  }
  return {
    label: `target group ${subject.targetGroup}`,
    members: [...members.values()],
    unhealthy: [...unhealthy.values()],
  };
}

/** Members already being healed (an open `unhealthy` workflow). */
async function alreadyHealing(members: readonly InstanceFacts[], deps: HandoffDeps): Promise<Set<string>> {
  const ids = new Set(members.map((m) => m.instanceId));
  const open = await deps.store.list({ status: 'in-progress' });
  return new Set(
    open.filter((w) => w.kind === 'unhealthy' && ids.has(w.instanceId)).map((w) => w.instanceId),
  );
}
