import * as z from 'zod/mini';
import { INSTANCE_ID, parse, parseEnvelope, REPLAY_SOURCE } from './events.ts';
import { builtOnFirstUse } from './schema-messages.ts';

/**
 * `CloudWatch Alarm State Change` events, reduced to what healing needs: the alarm, its new state,
 * and what its metric names (an instance, or a target group). A sample is in
 * `events/cloudwatch-alarm-state-change.json`.
 */

export const ALARM_DETAIL_TYPE = 'CloudWatch Alarm State Change';

/** The schema of an alarm state change's detail, built on first use. */
const alarmDetailSchema = builtOnFirstUse(() => {
  const metric = z.object({
    namespace: z.optional(z.string()),
    name: z.optional(z.string()),
    dimensions: z.optional(z.record(z.string(), z.string())),
  });
  return z.object({
    alarmName: z.string().check(z.minLength(1)),
    state: z.object({
      value: z.enum(['OK', 'ALARM', 'INSUFFICIENT_DATA']),
      timestamp: z.optional(z.string()),
    }),
    previousState: z.optional(z.partial(z.object({ value: z.string() }))),
    configuration: z.optional(
      z.looseObject({
        metrics: z.optional(z.array(z.looseObject({ metricStat: z.optional(z.object({ metric })) }))),
      }),
    ),
  });
});

/** What an alarm's metric points at. */
export type AlarmSubject =
  | { kind: 'instance'; instanceId: string }
  /** `targetgroup/<name>/<id>` and, when the metric has it, `app/<name>/<id>`. */
  | { kind: 'target-group'; targetGroup: string; loadBalancer?: string };

export interface AlarmChange {
  eventId: string;
  alarmName: string;
  alarmArn?: string;
  state: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';
  time: string;
  /** The metric's namespace/name, for the record. */
  metric?: string;
  subjects: AlarmSubject[];
}

const HANDLED_SOURCES = new Set(['aws.cloudwatch', REPLAY_SOURCE]);

/**
 * Validates an alarm state change and reads it; any other valid event is ignored.
 * @throws InvalidEventError (from `events.ts`) naming the first bad field.
 */
export function readAlarmChange(raw: unknown): { alarm: AlarmChange } | { ignored: string } {
  const event = parseEnvelope(raw);
  if (!HANDLED_SOURCES.has(event.source)) return { ignored: `source ${event.source} is not handled` };
  if (event['detail-type'] !== ALARM_DETAIL_TYPE)
    return { ignored: `detail-type "${event['detail-type']}" is not handled` };
  const detail = parse(alarmDetailSchema(), event.detail, ['detail']);
  const metrics = (detail.configuration?.metrics ?? []).flatMap((m) =>
    m.metricStat ? [m.metricStat.metric] : [],
  );
  const subjects: AlarmSubject[] = [];
  for (const { dimensions = {} } of metrics) {
    const instanceId = dimensions['InstanceId'];
    if (instanceId !== undefined && INSTANCE_ID.test(instanceId))
      subjects.push({ kind: 'instance', instanceId });
    const targetGroup = dimensions['TargetGroup'];
    if (targetGroup !== undefined) {
      const loadBalancer = dimensions['LoadBalancer'];
      subjects.push({ kind: 'target-group', targetGroup, ...(loadBalancer ? { loadBalancer } : {}) });
    }
  }
  const first = metrics[0];
  return {
    alarm: {
      eventId: event.id,
      alarmName: detail.alarmName,
      ...(event.resources[0] ? { alarmArn: event.resources[0] } : {}),
      state: detail.state.value,
      time: event.time,
      ...(first?.name ? { metric: `${first.namespace ?? ''}/${first.name}` } : {}),
      subjects,
    },
  };
}
