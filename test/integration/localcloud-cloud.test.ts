import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  CreateLaunchTemplateCommand,
  DescribeSubnetsCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import {
  CreateTargetGroupCommand,
  DescribeTargetGroupsCommand,
  ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterEach, describe, expect, it } from 'vitest';
import { startDynamo } from '../../localcloud/dynamo.ts';
import { LocalCloud } from '../../localcloud/index.ts';

let cloud: LocalCloud | undefined;

afterEach(async () => {
  await cloud?.stop();
  cloud = undefined;
});

describe('LocalCloud', () => {
  it('exposes the endpoints and dummy credentials the handlers read from the environment', async () => {
    cloud = await LocalCloud.start({ region: 'eu-west-1', accountId: '210987654321' });
    expect(cloud.env()).toEqual({
      AWS_ENDPOINT_URL_EC2: cloud.endpoint,
      AWS_ENDPOINT_URL_ELASTIC_LOAD_BALANCING_V2: cloud.endpoint,
      AWS_ENDPOINT_URL_DYNAMODB: cloud.dynamoEndpoint,
      AWS_REGION: 'eu-west-1',
      AWS_DEFAULT_REGION: 'eu-west-1',
      AWS_ACCESS_KEY_ID: 'local',
      AWS_SECRET_ACCESS_KEY: 'local',
    });
    expect(cloud.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const ec2 = new EC2Client(cloud.clientConfig());
    const subnets = (await ec2.send(new DescribeSubnetsCommand({}))).Subnets!;
    expect(subnets.map((s) => s.AvailabilityZone).sort()).toEqual(['eu-west-1a', 'eu-west-1b', 'eu-west-1c']);
    ec2.destroy();
  });

  it('serves DynamoDB: a new table is ACTIVE by the first wait and takes items', async () => {
    cloud = await LocalCloud.start();
    const dynamo = new DynamoDBClient({ ...cloud.clientConfig(), endpoint: cloud.dynamoEndpoint });
    await dynamo.send(
      new CreateTableCommand({
        TableName: 'workflows',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    // dynalite marks the table ACTIVE just after answering CreateTable: wait for it as clients do.
    await waitUntilTableExists({ client: dynamo, maxWaitTime: 60, minDelay: 1 }, { TableName: 'workflows' });
    const described = await dynamo.send(new DescribeTableCommand({ TableName: 'workflows' }));
    await dynamo.send(
      new PutItemCommand({ TableName: 'workflows', Item: { pk: { S: 'i-1' }, v: { N: '1' } } }),
    );
    const item = await dynamo.send(new GetItemCommand({ TableName: 'workflows', Key: { pk: { S: 'i-1' } } }));
    expect(described.Table?.TableStatus).toBe('ACTIVE');
    expect(item.Item).toEqual({ pk: { S: 'i-1' }, v: { N: '1' } });
    dynamo.destroy();
  });

  it('starts without DynamoDB when asked', async () => {
    cloud = await LocalCloud.start({ dynamodb: false });
    expect(cloud.dynamoEndpoint).toBeUndefined();
    expect(cloud.env()).not.toHaveProperty('AWS_ENDPOINT_URL_DYNAMODB');
  });

  it('tells ELBv2 about EC2 instances: a terminating instance target drains', async () => {
    // Prepare
    cloud = await LocalCloud.start({ dynamodb: false });
    const ec2 = new EC2Client({ ...cloud.clientConfig(), maxAttempts: 1 });
    const elbv2 = new ElasticLoadBalancingV2Client({ ...cloud.clientConfig(), maxAttempts: 1 });
    const subnet = (await ec2.send(new DescribeSubnetsCommand({}))).Subnets![0]!;
    const template = await ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: 'web',
        LaunchTemplateData: { ImageId: 'ami-0123456789abcdef0', InstanceType: 'm5.large' },
      }),
    );
    const run = await ec2.send(
      new RunInstancesCommand({
        MinCount: 1,
        MaxCount: 1,
        SubnetId: subnet.SubnetId!,
        LaunchTemplate: { LaunchTemplateId: template.LaunchTemplate!.LaunchTemplateId! },
      }),
    );
    const instanceId = run.Instances![0]!.InstanceId!;
    await cloud.clock.advance(8_000);
    const group = await elbv2.send(
      new CreateTargetGroupCommand({
        Name: 'web',
        Protocol: 'HTTP',
        Port: 80,
        VpcId: subnet.VpcId!,
        TargetType: 'instance',
      }),
    );
    const targetGroupArn = group.TargetGroups![0]!.TargetGroupArn!;
    await elbv2.send(
      new RegisterTargetsCommand({ TargetGroupArn: targetGroupArn, Targets: [{ Id: instanceId, Port: 80 }] }),
    );

    // Act
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));

    // Assess
    expect(cloud.elbv2.targetGroupOf('web')?.targets).toEqual([
      expect.objectContaining({ id: instanceId, state: 'draining' }),
    ]);
    expect(cloud.calls('RegisterTargets')).toBe(1);
    ec2.destroy();
    elbv2.destroy();
  });

  it('throttles ELBv2 with its own error code', async () => {
    cloud = await LocalCloud.start({
      dynamodb: false,
      throttling: { buckets: { 'elbv2:DescribeTargetGroups': { capacity: 1, refillPerSecond: 0 } } },
    });
    const elbv2 = new ElasticLoadBalancingV2Client({ ...cloud.clientConfig(), maxAttempts: 1 });
    await elbv2.send(new DescribeTargetGroupsCommand({}));
    await expect(elbv2.send(new DescribeTargetGroupsCommand({}))).rejects.toMatchObject({
      name: 'Throttling',
      $metadata: { httpStatusCode: 400 },
    });
    elbv2.destroy();
  });

  it('stops its timers, server and DynamoDB', async () => {
    const started = await LocalCloud.start();
    started.clock.schedule(1_000, () => {});
    await started.stop();
    expect(started.clock.nextTimerAt()).toBeUndefined();
    await expect(fetch(started.endpoint, { method: 'POST' })).rejects.toThrow();
    await expect(fetch(started.dynamoEndpoint!, { method: 'POST' })).rejects.toThrow();
  });
});

describe('startDynamo', () => {
  it('listens on loopback and stops', async () => {
    const dynamo = await startDynamo();
    expect(dynamo.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await dynamo.stop();
  });
});
