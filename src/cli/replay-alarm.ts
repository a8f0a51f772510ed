import { arnSuffix } from '../../localcloud/scenarios/alarms.ts';
import type { WebFleet } from '../../localcloud/scenarios/web-fleet.ts';
import { ALARM_DETAIL_TYPE, type AlarmSubject, readAlarmChange } from '../core/alarms.ts';
import type { EventEnvelope } from '../core/events.ts';
import type { AlarmHealing } from '../core/healing.ts';
import { type LocalStack, runUntil } from './local-stack.ts';

/**
 * Replaying a CloudWatch alarm state change: what the alarm is about (the instance of an EC2
 * status-check alarm, the target group of an `UnHealthyHostCount` alarm), pointing it at the local
 * fleet with what it reports made true there, and what the healing function made of it.
 */

export function isAlarmChange(event: EventEnvelope): boolean {
  return event['detail-type'] === ALARM_DETAIL_TYPE;
}

/** What the alarm's metrics name; none for an alarm the healing function does not read (another source). */
function subjectsOf(event: EventEnvelope): AlarmSubject[] {
  const read = readAlarmChange(event);
  return 'alarm' in read ? read.alarm.subjects : [];
}

/** What an alarm event is about, in words: `instance i-…`, `target group targetgroup/web/…`. */
export function alarmAbout(event: EventEnvelope): string {
  const subjects = subjectsOf(event);
  if (subjects.length === 0) return 'neither an instance nor a target group';
  return subjects
    .map((s) => (s.kind === 'instance' ? `instance ${s.instanceId}` : `target group ${s.targetGroup}`))
    .join(' and ');
}

/** The instance an alarm names (an `InstanceId` dimension), if it names one. */
export function alarmInstance(event: EventEnvelope): string | undefined {
  const subject = subjectsOf(event).find((s) => s.kind === 'instance');
  return subject?.kind === 'instance' ? subject.instanceId : undefined;
}

/** Whether an alarm is about a target group (a `TargetGroup` dimension). */
export function isTargetGroupAlarm(event: EventEnvelope): boolean {
  return subjectsOf(event).some((s) => s.kind === 'target-group');
}

type Dimensions = Record<string, string>;

/** The event with each metric's dimensions changed by `change`. */
function withDimensions(event: EventEnvelope, change: (dimensions: Dimensions) => Dimensions): EventEnvelope {
  const configuration = event.detail['configuration'] as { metrics?: unknown } | undefined;
  if (!configuration || !Array.isArray(configuration.metrics)) return event;
  const metrics = configuration.metrics.map(
    (entry: { metricStat?: { metric?: { dimensions?: Dimensions } } }) => {
      const metric = entry.metricStat?.metric;
      if (!metric?.dimensions) return entry;
      return {
        ...entry,
        metricStat: { ...entry.metricStat, metric: { ...metric, dimensions: change(metric.dimensions) } },
      };
    },
  );
  return { ...event, detail: { ...event.detail, configuration: { ...configuration, metrics } } };
}

/**
 * A status-check alarm pointed at `instanceId`: its `InstanceId` dimension, and the old id where the
 * alarm's name and ARN hold it (`spot-handoff-heal-status-i-…`). Other alarms are returned as they are.
 */
export function alarmOnInstance(event: EventEnvelope, instanceId: string): EventEnvelope {
  const old = alarmInstance(event);
  if (old === undefined) return event;
  const renamed = (text: string) => text.replaceAll(old, instanceId);
  const pointed = withDimensions(event, (d) =>
    d['InstanceId'] === undefined ? d : { ...d, InstanceId: instanceId },
  );
  const alarmName = pointed.detail['alarmName'];
  return {
    ...pointed,
    resources: pointed.resources.map(renamed),
    detail: {
      ...pointed.detail,
      ...(typeof alarmName === 'string' ? { alarmName: renamed(alarmName) } : {}),
    },
  };
}

/**
 * Points an alarm at the local fleet and makes what it reports true there: a status-check alarm
 * names `instanceId`; a target group alarm names the fleet's target group and load balancer, and
 * `instanceId` fails its health checks until the group reports it `unhealthy`, as it would have
 * for the alarm to go off.
 */
export async function alarmOnFleet(
  event: EventEnvelope,
  instanceId: string,
  fleet: WebFleet,
  stack: LocalStack,
): Promise<EventEnvelope> {
  let pointed = alarmOnInstance(event, instanceId);
  if (!isTargetGroupAlarm(event)) return pointed;
  pointed = withDimensions(pointed, (d) =>
    d['TargetGroup'] === undefined
      ? d
      : {
          ...d,
          TargetGroup: arnSuffix(fleet.targetGroupArn),
          ...(d['LoadBalancer'] === undefined ? {} : { LoadBalancer: arnSuffix(fleet.loadBalancerArn) }),
        },
  );
  stack.cloud.failHealthChecks(instanceId);
  const health = () =>
    stack.cloud.elbv2.targetGroupOf(fleet.targetGroupArn)?.targets.find((t) => t.id === instanceId)?.state;
  await runUntil(
    stack,
    () => health() === 'unhealthy',
    5 * 60_000,
    `${instanceId} to fail its health checks`,
  );
  return pointed;
}

/** What the healing function did about one alarm, in words (`--json`: `healing`). */
export interface AlarmVerdict {
  alarmName: string;
  verdict: AlarmHealing['verdict'];
  reason: string;
  /** Instances left alone because they were healed within the cooldown. */
  coolingDown: string[];
}

export function verdictOf({ alarmName, verdict, reason, coolingDown }: AlarmHealing): AlarmVerdict {
  return { alarmName, verdict, reason, coolingDown };
}
