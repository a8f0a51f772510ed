import {
  CreateLaunchTemplateCommand,
  DescribeSubnetsCommand,
  EC2Client,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { type LocalStack, runUntil, startLocalStack } from '../../src/cli/local-stack.ts';
import { type GroupPolicyInput, parsePolicy } from '../../src/core/policy.ts';
import { workflowIdFor } from '../../src/core/workflow.ts';

/**
 * The whole-pool action through the local cloud and the functions of serverless.yml: a group's
 * pool is reclaimed (three of its instances warned), and the sweep replaces the group's other
 * instances in that pool ahead of their own warnings, carefully, within the churn budget.
 * Assertions are on what exists afterwards: instances, their pools, records.
 */

let stack: LocalStack | undefined;
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});

async function groupInOnePool(size: number, policy: GroupPolicyInput) {
  stack = await startLocalStack({ policy: parsePolicy({ groups: { web: policy } }), env: {} });
  const ec2 = new EC2Client(stack.cloud.clientConfig());
  const subnets = ((await ec2.send(new DescribeSubnetsCommand({}))).Subnets ?? []).sort((a, b) =>
    a.AvailabilityZone!.localeCompare(b.AvailabilityZone!),
  );
  const template = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: 'web',
      LaunchTemplateData: {
        ImageId: 'ami-0123456789abcdef0',
        InstanceType: 'm5.large',
        InstanceMarketOptions: { MarketType: 'spot' },
      },
    }),
  );
  const launched = await ec2.send(
    new RunInstancesCommand({
      MinCount: size,
      MaxCount: size,
      SubnetId: subnets[0]!.SubnetId!,
      LaunchTemplate: { LaunchTemplateId: template.LaunchTemplate!.LaunchTemplateId!, Version: '$Latest' },
      TagSpecifications: [
        {
          ResourceType: 'instance',
          Tags: [
            { Key: 'spot-handoff:managed', Value: 'true' },
            { Key: 'spot-handoff:group', Value: 'web' },
          ],
        },
      ],
    }),
  );
  ec2.destroy();
  const ids = launched.Instances!.map((i) => i.InstanceId!).sort();
  const s = stack;
  await runUntil(
    s,
    () => ids.every((id) => s.cloud.ec2.instance(id)?.state === 'running'),
    60_000,
    'the group',
  );
  return {
    stack: s,
    ids,
    pool: { instanceType: 'm5.large', availabilityZone: subnets[0]!.AvailabilityZone! },
  };
}

const POLICY: GroupPolicyInput = {
  instanceTypes: [{ type: 'm5.large' }, { type: 'm6i.large' }],
  poolReclaim: { threshold: 3, windowMinutes: 10, avoidMinutes: 30, replaceAhead: true },
  churnBudgetPercent: 20,
  onDemandPrices: { 'm5.large': 0.096, 'm6i.large': 0.096 },
};

describe('the whole-pool action', () => {
  it('replaceAhead: once 3 of the pool are warned, the others are replaced before their warnings, elsewhere, at most the churn budget at once', async () => {
    const { stack, ids, pool } = await groupInOnePool(8, POLICY);
    const warned = ids.slice(0, 3);
    const others = ids.slice(3);

    for (const id of warned) stack.cloud.interrupt(id);
    let mostAtOnce = 0;
    await runUntil(
      stack,
      async () => {
        const open = await stack.store.list({ status: 'in-progress' });
        mostAtOnce = Math.max(mostAtOnce, open.filter((w) => w.kind === 'pool-reclaim').length);
        return others.every((id) => stack.cloud.ec2.instance(id)?.state === 'terminated');
      },
      30 * 60_000,
      'the rest of the pool to be replaced ahead',
    );

    const records = await Promise.all(others.map((id) => stack.store.get(workflowIdFor(id))));
    for (const w of records) {
      expect(w).toMatchObject({
        kind: 'pool-reclaim',
        group: 'web',
        status: 'completed',
        outcome: 'replaced',
      });
      expect(w!.careful!.reason).toMatch(
        new RegExp(
          `^Pool m5\\.large in ${pool.availabilityZone} is being reclaimed \\(\\d+ interruptions within 10 min\\)`,
        ),
      );
      const replacement = stack.cloud.ec2.instance(w!.replacement!.instanceId!)!;
      expect(replacement.state).toBe('running');
      expect([replacement.instanceType, replacement.availabilityZone]).not.toEqual([
        pool.instanceType,
        pool.availabilityZone,
      ]);
      // Replaced before EC2 warned it: no warning was ever absorbed.
      expect(w!.signals.warning).toBe(false);
    }
    // 20% of the group (8 instances and the 3 warned ones' replacements): 2 at once.
    expect(mostAtOnce).toBeGreaterThanOrEqual(1);
    expect(mostAtOnce).toBeLessThanOrEqual(2);
  });

  it('without replaceAhead, the others are left alone (only the warned are replaced)', async () => {
    const { stack, ids } = await groupInOnePool(6, {
      ...POLICY,
      poolReclaim: { ...POLICY.poolReclaim!, replaceAhead: false },
    });
    const warned = ids.slice(0, 3);

    for (const id of warned) stack.cloud.interrupt(id);
    await runUntil(
      stack,
      () => warned.every((id) => stack.cloud.ec2.instance(id)?.state === 'terminated'),
      10 * 60_000,
      'the warned instances to go',
    );
    // Two more sweeps.
    await stack.cloud.clock.advance(120_000);
    await stack.handlersIdle();

    for (const id of ids.slice(3)) {
      expect(stack.cloud.ec2.instance(id)?.state).toBe('running');
      expect(await stack.store.get(workflowIdFor(id))).toBeUndefined();
    }
  });
});
