import {
  CreateLaunchTemplateCommand,
  DescribeSubnetsCommand,
  type EC2Client,
  RunInstancesCommand,
  type RunInstancesCommandOutput,
} from '@aws-sdk/client-ec2';
import {
  CreateListenerCommand,
  CreateLoadBalancerCommand,
  CreateTargetGroupCommand,
  type ElasticLoadBalancingV2Client,
  ModifyTargetGroupAttributesCommand,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { EC2_ACTIONS } from '../../src/aws/aws-buckets.ts';

/**
 * The demo's fleet, built through the real APIs as a user's infrastructure code would: a Spot launch
 * template, an ALB with one target group, and managed Spot instances spread over the AZs.
 */

export interface WebFleet {
  vpcId: string;
  launchTemplateId: string;
  loadBalancerArn: string;
  targetGroupArn: string;
  /** The managed instances, one per subnet in turn. */
  instanceIds: string[];
}

export interface WebFleetOptions {
  size?: number;
  managedTagKey?: string;
  /** Target group `deregistration_delay.timeout_seconds`; ≤ 90 s is what Spot fleets use. */
  deregistrationDelaySeconds?: number;
  name?: string;
  /** Extra tags on the instances (e.g. the stateful opt-in). */
  tags?: Record<string, string>;
}

export async function createWebFleet(
  clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client },
  options: WebFleetOptions = {},
): Promise<WebFleet> {
  const { ec2, elbv2 } = clients;
  const name = options.name ?? 'web';
  const size = options.size ?? 3;
  const subnets = (await ec2.send(new DescribeSubnetsCommand({}))).Subnets ?? [];
  if (subnets.length === 0) throw new Error('The local cloud has no subnets.');
  const vpcId = subnets[0]!.VpcId!;

  const template = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: `${name}-spot`,
      LaunchTemplateData: {
        ImageId: 'ami-0123456789abcdef0',
        InstanceType: 'm5.large',
        InstanceMarketOptions: { MarketType: 'spot' },
      },
    }),
  );
  const launchTemplateId = template.LaunchTemplate!.LaunchTemplateId!;

  const loadBalancer = await elbv2.send(
    new CreateLoadBalancerCommand({
      Name: `${name}-alb`,
      Type: 'application',
      Subnets: subnets.map((s) => s.SubnetId!),
    }),
  );
  const loadBalancerArn = loadBalancer.LoadBalancers![0]!.LoadBalancerArn!;
  const group = await elbv2.send(
    new CreateTargetGroupCommand({
      Name: name,
      Protocol: 'HTTP',
      Port: 80,
      VpcId: vpcId,
      TargetType: 'instance',
      HealthCheckIntervalSeconds: 5,
      HealthCheckTimeoutSeconds: 2,
      HealthyThresholdCount: 2,
    }),
  );
  const targetGroupArn = group.TargetGroups![0]!.TargetGroupArn!;
  await elbv2.send(
    new ModifyTargetGroupAttributesCommand({
      TargetGroupArn: targetGroupArn,
      Attributes: [
        {
          Key: 'deregistration_delay.timeout_seconds',
          Value: String(options.deregistrationDelaySeconds ?? 30),
        },
      ],
    }),
  );
  await elbv2.send(
    new CreateListenerCommand({
      LoadBalancerArn: loadBalancerArn,
      Protocol: 'HTTP',
      Port: 80,
      DefaultActions: [{ Type: 'forward', TargetGroupArn: targetGroupArn }],
    }),
  );

  const instanceIds: string[] = [];
  for (let i = 0; i < size; i++) {
    const subnet = subnets[i % subnets.length]!;
    const launched = await launchPatiently(
      ec2,
      new RunInstancesCommand({
        MinCount: 1,
        MaxCount: 1,
        LaunchTemplate: { LaunchTemplateId: launchTemplateId, Version: '$Latest' },
        SubnetId: subnet.SubnetId!,
        TagSpecifications: [
          {
            ResourceType: 'instance',
            Tags: Object.entries({
              Name: `${name}-${i + 1}`,
              app: name,
              [options.managedTagKey ?? 'spot-handoff:managed']: 'true',
              ...options.tags,
            }).map(([Key, Value]) => ({ Key, Value })),
          },
        ],
      }),
    );
    instanceIds.push(launched.Instances![0]!.InstanceId!);
  }
  return { vpcId, launchTemplateId, loadBalancerArn, targetGroupArn, instanceIds };
}

/**
 * RunInstances as infrastructure code sends it in a loop: EC2's RunInstances bucket holds 5 calls
 * and refills 2 a second, so the sixth launch of a fleet in a row can be throttled even after the
 * SDK's three attempts. A throttled launch waits for the bucket's next token and is sent again, for
 * up to a minute (nothing was launched by a throttled call).
 */
export async function launchPatiently(
  ec2: EC2Client,
  command: RunInstancesCommand,
): Promise<RunInstancesCommandOutput> {
  const tokenMs = 1000 / EC2_ACTIONS['RunInstances']!.refillPerSecond;
  for (let waited = 0; ; waited += tokenMs) {
    try {
      return await ec2.send(command);
    } catch (error) {
      const throttled = (error as { name?: unknown }).name === 'RequestLimitExceeded';
      if (!throttled || waited >= 60_000) throw error;
      await new Promise((resolve) => setTimeout(resolve, tokenMs));
    }
  }
}

/** Registers the fleet's instances on port 80 (they must be running, as on AWS). */
export async function registerFleet(elbv2: ElasticLoadBalancingV2Client, fleet: WebFleet): Promise<void> {
  await elbv2.send(
    new RegisterTargetsCommand({
      TargetGroupArn: fleet.targetGroupArn,
      Targets: fleet.instanceIds.map((Id) => ({ Id, Port: 80 })),
    }),
  );
}
