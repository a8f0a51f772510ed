import {
  CreateLaunchTemplateCommand,
  DescribeSubnetsCommand,
  EC2Client,
  type Subnet,
} from '@aws-sdk/client-ec2';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { LocalCloud } from '../../localcloud/index.ts';

/**
 * The local cloud's EC2 (manual clock, no throttling) and a real SDK client pointed at it, for
 * adapter tests. `sent` is aws-sdk-client-mock over that client calling through: it records what
 * the adapter sends, while the local cloud answers. A test may still make one command answer
 * otherwise with `sent.on(Command)`.
 */
export interface Ec2World {
  cloud: LocalCloud;
  client: EC2Client;
  sent: AwsClientStub<EC2Client>;
  /** The default VPC's subnets, one per AZ, sorted by AZ. */
  subnets: Subnet[];
  /** A launch template for Spot m5.large instances. */
  launchTemplateId: string;
  stop(): Promise<void>;
}

export async function ec2World(): Promise<Ec2World> {
  const cloud = await LocalCloud.start({ dynamodb: false, throttling: false });
  const client = new EC2Client({ ...cloud.clientConfig(), maxAttempts: 1 });
  const subnets = ((await client.send(new DescribeSubnetsCommand({}))).Subnets ?? []).sort((a, b) =>
    (a.AvailabilityZone ?? '').localeCompare(b.AvailabilityZone ?? ''),
  );
  const template = await client.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: 'web-spot',
      LaunchTemplateData: {
        ImageId: 'ami-0123456789abcdef0',
        InstanceType: 'm5.large',
        InstanceMarketOptions: { MarketType: 'spot' },
      },
    }),
  );
  const sent = mockClient(client);
  sent.send.callThrough();
  return {
    cloud,
    client,
    sent,
    subnets,
    launchTemplateId: template.LaunchTemplate!.LaunchTemplateId!,
    async stop() {
      sent.restore();
      client.destroy();
      await cloud.stop();
    },
  };
}
