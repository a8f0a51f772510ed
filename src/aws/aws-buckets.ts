/**
 * AWS's request token buckets (per account and Region) that the handoff and the local cloud both
 * respect: EC2's documented ones (`../shared/AWS-FACTS.md`), ELBv2's documented read bucket, and
 * its unpublished write bucket read conservatively. `src/aws/api-budget.ts` spends a share of
 * them; `localcloud/` throttles by them.
 */

export interface BucketSpec {
  capacity: number;
  refillPerSecond: number;
}

/** EC2 Describe* calls, filtered or paginated. */
export const EC2_DESCRIBE: BucketSpec = { capacity: 100, refillPerSecond: 20 };
/** DescribeInstances, DescribeVolumes, DescribeNetworkInterfaces without ids, filters or paging. */
export const EC2_DESCRIBE_UNFILTERED: BucketSpec = { capacity: 50, refillPerSecond: 10 };
/** EC2's mutating calls without a bucket of their own. */
export const EC2_MUTATING: BucketSpec = { capacity: 50, refillPerSecond: 5 };
/** EC2's actions with a request bucket of their own. */
export const EC2_ACTIONS: Readonly<Record<string, BucketSpec>> = {
  RunInstances: { capacity: 5, refillPerSecond: 2 },
  TerminateInstances: { capacity: 100, refillPerSecond: 5 },
  CreateTags: { capacity: 100, refillPerSecond: 10 },
  CreateVolume: { capacity: 100, refillPerSecond: 5 },
  CreateSnapshot: { capacity: 100, refillPerSecond: 5 },
  CreateNetworkInterface: { capacity: 100, refillPerSecond: 5 },
};
/** Instances launched by RunInstances, and terminated by TerminateInstances (resource buckets). */
export const EC2_INSTANCES_LAUNCHED: BucketSpec = { capacity: 1000, refillPerSecond: 2 };
export const EC2_INSTANCES_TERMINATED: BucketSpec = { capacity: 1000, refillPerSecond: 20 };

/** ELBv2's read-only calls (documented). */
export const ELBV2_READ: BucketSpec = { capacity: 40, refillPerSecond: 10 };
/** ELBv2's mutating calls: not published, modelled conservatively. */
export const ELBV2_WRITE: BucketSpec = { capacity: 20, refillPerSecond: 5 };

/** Whether an EC2 or ELBv2 action only reads (charged to the read buckets). */
export const isReadOnlyAction = (action: string) => /^(Describe|Get|List|Search)/.test(action);
