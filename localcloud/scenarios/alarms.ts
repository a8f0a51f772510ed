import { randomUUID } from 'node:crypto';
import type { EventEnvelope } from '../../src/core/events.ts';

/**
 * CloudWatch alarm state changes as EventBridge delivers them (`aws.cloudwatch`,
 * `CloudWatch Alarm State Change`), for scenarios that play an alarm: the local cloud has no
 * CloudWatch, so a scenario says when an alarm changes state, as CloudWatch would.
 */

export interface AlarmChangeOptions {
  alarmName: string;
  state: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';
  previousState: 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';
  time: Date;
  region: string;
  accountId: string;
  /** The alarm's metric: an ALB target group's `UnHealthyHostCount`, or an instance's `StatusCheckFailed`. */
  metric:
    | { kind: 'target-group'; targetGroupArn: string; loadBalancerArn: string }
    | { kind: 'instance'; instanceId: string };
}

/** The part of an ELBv2 ARN a CloudWatch dimension holds: `targetgroup/<name>/<id>`, `app/<name>/<id>`. */
export const arnSuffix = (arn: string): string =>
  arn
    .split(':')
    .slice(5)
    .join(':')
    .replace(/^loadbalancer\//, '');

export function alarmStateChange(options: AlarmChangeOptions): EventEnvelope {
  const { alarmName, region, accountId, time } = options;
  const metric =
    options.metric.kind === 'target-group'
      ? {
          namespace: 'AWS/ApplicationELB',
          name: 'UnHealthyHostCount',
          dimensions: {
            TargetGroup: arnSuffix(options.metric.targetGroupArn),
            LoadBalancer: arnSuffix(options.metric.loadBalancerArn),
          },
        }
      : {
          namespace: 'AWS/EC2',
          name: 'StatusCheckFailed',
          dimensions: { InstanceId: options.metric.instanceId },
        };
  const stamp = time.toISOString().replace('Z', '+0000');
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    account: accountId,
    time: time.toISOString().replace(/\.\d{3}Z$/, 'Z'),
    region,
    resources: [`arn:aws:cloudwatch:${region}:${accountId}:alarm:${alarmName}`],
    detail: {
      alarmName,
      state: { value: options.state, reason: `Threshold Crossed (local cloud scenario)`, timestamp: stamp },
      previousState: { value: options.previousState, reason: 'Threshold Crossed', timestamp: stamp },
      configuration: {
        metrics: [{ id: 'm1', metricStat: { metric, period: 60, stat: 'Maximum' }, returnData: true }],
      },
    },
  };
}
