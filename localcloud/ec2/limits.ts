import { AwsError, type QueryRequest } from '../contracts.ts';
import { Params } from '../query.ts';
import type { BucketCharge, BucketSpec } from '../server.ts';
import { EC2_DIALECT } from './query.ts';

/**
 * EC2's request throttling: one token bucket per API action (per account and Region), sized by
 * the action's category, plus resource buckets for RunInstances and TerminateInstances.
 */

const DESCRIBE: BucketSpec = { capacity: 100, refillPerSecond: 20 };
const DESCRIBE_UNFILTERED: BucketSpec = { capacity: 50, refillPerSecond: 10 };
const MUTATING: BucketSpec = { capacity: 50, refillPerSecond: 5 };

const ACTION_BUCKETS: Record<string, BucketSpec> = {
  RunInstances: { capacity: 5, refillPerSecond: 2 },
  TerminateInstances: { capacity: 100, refillPerSecond: 5 },
  CreateTags: { capacity: 100, refillPerSecond: 10 },
  CreateVolume: { capacity: 100, refillPerSecond: 5 },
  CreateSnapshot: { capacity: 100, refillPerSecond: 5 },
  CreateNetworkInterface: { capacity: 100, refillPerSecond: 5 },
};

/** Describe calls of these actions without ids, filters or pagination use a smaller bucket. */
const LARGE_DESCRIBES = new Set(['DescribeInstances', 'DescribeVolumes', 'DescribeNetworkInterfaces']);

const isNonMutating = (action: string) => /^(Describe|Get|List|Search)/.test(action);

export function ec2Charges(request: QueryRequest): BucketCharge[] {
  const { action, params } = request;
  if (isNonMutating(action)) {
    const unfiltered = LARGE_DESCRIBES.has(action) && Object.keys(params).every((key) => key === 'DryRun');
    return unfiltered
      ? [{ key: `${action} (unfiltered)`, spec: DESCRIBE_UNFILTERED, cost: 1 }]
      : [{ key: action, spec: DESCRIBE, cost: 1 }];
  }
  const charges: BucketCharge[] = [{ key: action, spec: ACTION_BUCKETS[action] ?? MUTATING, cost: 1 }];
  if (action === 'RunInstances') {
    const instances = Number(params['MaxCount'] ?? 1);
    charges.push({
      key: 'RunInstances (instances)',
      spec: { capacity: 1000, refillPerSecond: 2 },
      cost: Number.isFinite(instances) && instances > 0 ? instances : 1,
    });
  }
  if (action === 'TerminateInstances') {
    charges.push({
      key: 'TerminateInstances (instances)',
      spec: { capacity: 1000, refillPerSecond: 20 },
      cost: Math.max(1, new Params(params, EC2_DIALECT).strings('InstanceId').length),
    });
  }
  return charges;
}

export const ec2Throttled = () => new AwsError('RequestLimitExceeded', 'Request limit exceeded.', 503);
