import { randomUUID } from 'node:crypto';
import type { Signal } from '../../src/core/events.ts';
import type { InstanceState } from '../../src/core/ports.ts';

const time = '2026-01-01T12:00:00Z';

export const warning = (instanceId: string, eventId: string = randomUUID()): Signal => ({
  kind: 'warning',
  instanceId,
  eventId,
  time,
  instanceAction: 'terminate',
});

export const rebalance = (instanceId: string, eventId: string = randomUUID()): Signal => ({
  kind: 'rebalance',
  instanceId,
  eventId,
  time,
});

export const stateChange = (
  instanceId: string,
  state: InstanceState,
  eventId: string = randomUUID(),
): Signal => ({
  kind: 'state-change',
  instanceId,
  eventId,
  time,
  state,
});

/** An EventBridge event as AWS sends it. */
export function awsEvent(detailType: string, detail: Record<string, unknown>, id: string = randomUUID()) {
  return {
    version: '0',
    id,
    'detail-type': detailType,
    source: 'aws.ec2',
    account: '123456789012',
    time,
    region: 'us-east-1',
    resources: [`arn:aws:ec2:us-east-1:123456789012:instance/${String(detail['instance-id'])}`],
    detail,
  };
}
