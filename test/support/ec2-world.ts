import {
  CreateLaunchTemplateCommand,
  DescribeSubnetsCommand,
  EC2Client,
  EC2ServiceException,
  type Subnet,
} from '@aws-sdk/client-ec2';
import { type AwsClientStub, mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach } from 'vitest';
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

/**
 * A client whose calls aws-sdk-client-mock answers, fresh for each test of the calling suite (its
 * `beforeEach` and `afterEach` are registered here): for what an adapter sends, and for answers
 * the local cloud does not give (pages, malformed answers, an endpoint ignoring DryRun).
 */
export function answeredEc2(): { readonly client: EC2Client; readonly mock: AwsClientStub<EC2Client> } {
  const current = {} as { client: EC2Client; mock: AwsClientStub<EC2Client> };
  beforeEach(() => {
    current.client = new EC2Client({ region: 'us-east-1' });
    current.mock = mockClient(current.client);
  });
  afterEach(() => {
    current.mock.restore();
  });
  return current;
}

/** An error as the SDK throws it for an EC2 error code (EC2 errors are unmodelled: `name` is the code). */
export function ec2Error(code: string, message = `${code} (test)`): EC2ServiceException {
  return new EC2ServiceException({
    name: code,
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message,
  });
}
