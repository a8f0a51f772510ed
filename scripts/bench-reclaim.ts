/**
 * Benchmark: EC2 reclaims a whole pool. N managed instances of one group (m5.large in one AZ; the
 * group's policy allows m5.large, m5.xlarge and c5.large in every AZ) serving in two target groups
 * get their interruption warnings in one batch; the core hands them all off through the local cloud, whose
 * API throttling follows AWS's token buckets. Prints wall time, invocations needed, API calls per
 * action, fleet requests and ELB calls per instance. Figures, not assertions.
 *
 *   npx tsx scripts/bench-reclaim.ts [N]      (default 60)
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DescribeSubnetsCommand, EC2Client, RunInstancesCommand } from '@aws-sdk/client-ec2';
import {
  CreateTargetGroupCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { LocalCloud } from '../localcloud/index.ts';
import { createClients } from '../src/aws/clients.ts';
import { awsHandoffDeps } from '../src/aws/handoff-deps.ts';
import { createWorkflowTable } from '../src/aws/workflow-store.ts';
import { readConfig } from '../src/config.ts';
import type { Signal } from '../src/core/events.ts';
import { handOff } from '../src/core/handoff.ts';
import { parsePolicy } from '../src/core/policy.ts';
import type { Log, Metrics } from '../src/core/ports.ts';

process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
const N = Number(process.argv[2] ?? 60);
if (!Number.isInteger(N) || N < 1 || N > 1000) {
  console.error('Usage: npx tsx scripts/bench-reclaim.ts [N], N from 1 to 1000.');
  process.exit(2);
}

const cloud = await LocalCloud.start({ clock: 'manual' });
try {
  Object.assign(process.env, cloud.env(), { HANDOFF_TABLE_NAME: 'bench' });
  const region = cloud.region;
  await createWorkflowTable(new DynamoDBClient({ region }), 'bench');
  const ec2 = new EC2Client({ region });
  const elbv2 = new ElasticLoadBalancingV2Client({ region });
  const subnet = (await ec2.send(new DescribeSubnetsCommand({}))).Subnets![0]!;
  const { CreateLaunchTemplateCommand } = await import('@aws-sdk/client-ec2');
  const template = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: 'bench',
      LaunchTemplateData: {
        ImageId: 'ami-0123456789abcdef0',
        InstanceType: 'm5.large',
        InstanceMarketOptions: { MarketType: 'spot' },
      },
    }),
  );
  const fleet = await ec2.send(
    new RunInstancesCommand({
      MinCount: N,
      MaxCount: N,
      SubnetId: subnet.SubnetId!,
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
  const ids = fleet.Instances!.map((i) => i.InstanceId!);
  await cloud.clock.advance(10_000);
  for (const name of ['web', 'api']) {
    const group = await elbv2.send(
      new CreateTargetGroupCommand({
        Name: name,
        Protocol: 'HTTP',
        Port: 80,
        VpcId: subnet.VpcId!,
        TargetType: 'instance',
      }),
    );
    await elbv2.send(
      new RegisterTargetsCommand({
        TargetGroupArn: group.TargetGroups![0]!.TargetGroupArn!,
        Targets: ids.map((Id) => ({ Id, Port: 80 })),
      }),
    );
  }

  const quiet: Log = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {}, with: () => quiet };
  const metrics: Metrics = { count: () => {}, handoffSeconds: () => {} };
  const policy = parsePolicy({
    groups: { web: { instanceTypes: [{ type: 'm5.large' }, { type: 'm5.xlarge' }, { type: 'c5.large' }] } },
  });
  const deps = awsHandoffDeps({
    config: { ...readConfig(), policy },
    clients: createClients(),
    log: quiet,
    metrics,
  });
  const time = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  const signals: Signal[] = ids.map((instanceId, i) => ({
    kind: 'warning',
    instanceId,
    eventId: `bench-${i}`,
    time,
    instanceAction: 'terminate',
  }));

  const before = new Map(
    [
      'DescribeInstances',
      'RunInstances',
      'CreateFleet',
      'DescribeTargetHealth',
      'DescribeTargetGroups',
      'DeregisterTargets',
    ].map((a) => [a, cloud.calls(a)]),
  );
  const started = performance.now();
  let invocations = 0;
  let failures = 0;
  for (;;) {
    invocations += 1;
    try {
      await handOff(signals, deps);
      break;
    } catch (error) {
      failures += 1;
      if (invocations >= 10) throw error;
      // Lambda retries a failed asynchronous invocation; here, at once.
    }
  }
  const seconds = (performance.now() - started) / 1000;
  const replaced = cloud.ec2.instances().filter((i) => i.tags['spot-handoff:replaces']).length;
  const calls = Object.fromEntries([...before].map(([action, n]) => [action, cloud.calls(action) - n]));
  const elb = calls['DescribeTargetHealth']! + calls['DescribeTargetGroups']! + calls['DeregisterTargets']!;
  console.log(`pool reclaim: ${N} warnings in one batch, 2 target groups, AWS token buckets on`);
  console.log(`  wall time            ${seconds.toFixed(1)} s`);
  console.log(`  invocations          ${invocations} (${failures} failed and were retried)`);
  console.log(`  replacements         ${replaced} of ${N}`);
  console.log(
    `  fleet requests       ${calls['CreateFleet']} for group web (RunInstances: ${calls['RunInstances']})`,
  );
  console.log(`  API calls            ${JSON.stringify(calls)} (incl. SDK retries and throttled ones)`);
  console.log(`  ELB calls            ${elb} in all, ${(elb / N).toFixed(2)} per instance`);
} finally {
  await cloud.stop();
}
