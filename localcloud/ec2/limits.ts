import {
  EC2_ACTIONS,
  EC2_DESCRIBE,
  EC2_DESCRIBE_UNFILTERED,
  EC2_INSTANCES_LAUNCHED,
  EC2_INSTANCES_TERMINATED,
  EC2_MUTATING,
  isReadOnlyAction,
} from '../../src/aws/aws-buckets.ts';
import { AwsError, type QueryRequest } from '../contracts.ts';
import { Params } from '../query.ts';
import type { BucketCharge } from '../server.ts';
import { EC2_DIALECT } from './query.ts';

/**
 * EC2's request throttling: one token bucket per API action (per account and Region), sized by
 * the action's category, plus resource buckets for RunInstances and TerminateInstances.
 */

/** Describe calls of these actions without ids, filters or pagination use a smaller bucket. */
const LARGE_DESCRIBES = new Set(['DescribeInstances', 'DescribeVolumes', 'DescribeNetworkInterfaces']);

export function ec2Charges(request: QueryRequest): BucketCharge[] {
  const { action, params } = request;
  if (isReadOnlyAction(action)) {
    const unfiltered = LARGE_DESCRIBES.has(action) && Object.keys(params).every((key) => key === 'DryRun');
    return unfiltered
      ? [{ key: `${action} (unfiltered)`, spec: EC2_DESCRIBE_UNFILTERED, cost: 1 }]
      : [{ key: action, spec: EC2_DESCRIBE, cost: 1 }];
  }
  const charges: BucketCharge[] = [{ key: action, spec: EC2_ACTIONS[action] ?? EC2_MUTATING, cost: 1 }];
  if (action === 'RunInstances') {
    const instances = Number(params['MaxCount'] ?? 1);
    charges.push({
      key: 'RunInstances (instances)',
      spec: EC2_INSTANCES_LAUNCHED,
      cost: Number.isFinite(instances) && instances > 0 ? instances : 1,
    });
  }
  if (action === 'TerminateInstances') {
    charges.push({
      key: 'TerminateInstances (instances)',
      spec: EC2_INSTANCES_TERMINATED,
      cost: Math.max(1, new Params(params, EC2_DIALECT).strings('InstanceId').length),
    });
  }
  return charges;
}

export const ec2Throttled = () => new AwsError('RequestLimitExceeded', 'Request limit exceeded.', 503);
