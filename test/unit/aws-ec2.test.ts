import {
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  type Instance,
  RunInstancesCommand,
} from '@aws-sdk/client-ec2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPlanLog } from '../../src/aws/dry-run.ts';
import { Ec2Compute } from '../../src/aws/ec2.ts';
import { dryRunInstanceId } from '../../src/aws/ec2-base.ts';
import { UnexpectedResponseError } from '../../src/aws/errors.ts';
import type { LaunchRequest } from '../../src/core/ports.ts';
import { answeredEc2, type Ec2World, ec2Error, ec2World } from '../support/ec2-world.ts';

/**
 * Two kinds of test: what the adapter sends and how it reads an answer, with aws-sdk-client-mock
 * answering; and what it does to EC2, against the local cloud (with the same mock calling through
 * to record what was sent).
 */

/** A running Spot instance as DescribeInstances reports it, with a secondary interface holding an Elastic IP. */
function spotInstance(instanceId: string): Instance {
  return {
    InstanceId: instanceId,
    State: { Name: 'running', Code: 16 },
    StateReason: { Code: 'Server.SpotInstanceTermination', Message: 'Spot' },
    InstanceType: 'm5.large',
    Placement: { AvailabilityZone: 'us-east-1b' },
    SubnetId: 'subnet-b',
    VpcId: 'vpc-1',
    PrivateIpAddress: '10.0.2.10',
    InstanceLifecycle: 'spot',
    ClientToken: 'token-0',
    LaunchTime: new Date('2026-01-01T10:00:00Z'),
    RootDeviceName: '/dev/xvda',
    Tags: [
      { Key: 'Name', Value: 'web' },
      { Key: 'aws:ec2launchtemplate:id', Value: 'lt-0abc' },
      { Key: 'aws:ec2launchtemplate:version', Value: '3' },
    ],
    BlockDeviceMappings: [
      {
        DeviceName: '/dev/xvda',
        Ebs: { VolumeId: 'vol-root', DeleteOnTermination: true, Status: 'attached' },
      },
      {
        DeviceName: '/dev/sdf',
        Ebs: { VolumeId: 'vol-data', DeleteOnTermination: false, Status: 'attached' },
      },
    ],
    NetworkInterfaces: [
      {
        NetworkInterfaceId: 'eni-secondary',
        SubnetId: 'subnet-b',
        Attachment: {
          AttachmentId: 'eni-attach-2',
          DeviceIndex: 1,
          DeleteOnTermination: false,
          Status: 'attached',
        },
        PrivateIpAddresses: [
          {
            PrivateIpAddress: '10.0.2.20',
            Primary: true,
            Association: { PublicIp: '203.0.113.7', IpOwnerId: '123456789012' },
          },
          { PrivateIpAddress: '10.0.2.21', Primary: false },
        ],
      },
      {
        NetworkInterfaceId: 'eni-primary',
        SubnetId: 'subnet-b',
        Attachment: {
          AttachmentId: 'eni-attach-1',
          DeviceIndex: 0,
          DeleteOnTermination: true,
          Status: 'attached',
        },
        PrivateIpAddresses: [
          {
            PrivateIpAddress: '10.0.2.10',
            Primary: true,
            Association: { PublicIp: '198.51.100.1', IpOwnerId: 'amazon' },
          },
        ],
      },
    ],
  };
}

const request: LaunchRequest = {
  clientToken: 'wf-i-0abc-1',
  launchTemplate: { id: 'lt-0abc', version: '3' },
  subnetId: 'subnet-b',
  instanceType: 'm5.xlarge',
  privateIpAddress: '10.0.2.10',
  tags: { Name: 'web', 'spot-handoff:replaces': 'i-0abc', 'aws:cloudformation:stack-name': 'web' },
};

describe('Ec2Compute against answers given', () => {
  const ec2 = answeredEc2();

  /** EC2 answers every DescribeInstances with these instances, on one page. */
  function describes(...instances: Instance[]): void {
    ec2.mock
      .on(DescribeInstancesCommand)
      .resolves({ Reservations: instances.map((i) => ({ Instances: [i] })) });
  }

  it('maps what EC2 reports to instance facts, Elastic IPs included', async () => {
    // Prepare
    describes(spotInstance('i-0abc'));
    ec2.mock.on(DescribeAddressesCommand).resolves({
      Addresses: [
        {
          PublicIp: '203.0.113.7',
          AllocationId: 'eipalloc-1',
          AssociationId: 'eipassoc-1',
          NetworkInterfaceId: 'eni-secondary',
          PrivateIpAddress: '10.0.2.20',
        },
      ],
    });
    const compute = new Ec2Compute({ client: ec2.client });

    // Act
    const facts = await compute.describeInstances(['i-0abc']);

    // Assess
    expect(facts.get('i-0abc')).toEqual({
      instanceId: 'i-0abc',
      state: 'running',
      stateReason: 'Server.SpotInstanceTermination',
      instanceType: 'm5.large',
      availabilityZone: 'us-east-1b',
      subnetId: 'subnet-b',
      vpcId: 'vpc-1',
      privateIpAddress: '10.0.2.10',
      lifecycle: 'spot',
      launchTemplate: { id: 'lt-0abc', version: '3' },
      clientToken: 'token-0',
      launchTime: '2026-01-01T10:00:00.000Z',
      rootDeviceName: '/dev/xvda',
      tags: { Name: 'web', 'aws:ec2launchtemplate:id': 'lt-0abc', 'aws:ec2launchtemplate:version': '3' },
      volumes: [
        { volumeId: 'vol-root', deviceName: '/dev/xvda', deleteOnTermination: true, status: 'attached' },
        { volumeId: 'vol-data', deviceName: '/dev/sdf', deleteOnTermination: false, status: 'attached' },
      ],
      networkInterfaces: [
        {
          networkInterfaceId: 'eni-primary',
          deviceIndex: 0,
          attachmentId: 'eni-attach-1',
          deleteOnTermination: true,
          subnetId: 'subnet-b',
          status: 'attached',
          privateIps: [{ privateIpAddress: '10.0.2.10', primary: true }],
        },
        {
          networkInterfaceId: 'eni-secondary',
          deviceIndex: 1,
          attachmentId: 'eni-attach-2',
          deleteOnTermination: false,
          subnetId: 'subnet-b',
          status: 'attached',
          privateIps: [
            {
              privateIpAddress: '10.0.2.20',
              primary: true,
              elasticIp: { publicIp: '203.0.113.7', allocationId: 'eipalloc-1', associationId: 'eipassoc-1' },
            },
            { privateIpAddress: '10.0.2.21', primary: false },
          ],
        },
      ],
    });
    // Only the account-owned public IP is looked up, not the one Amazon assigned.
    expect(ec2.mock.commandCalls(DescribeAddressesCommand).map((call) => call.args[0].input.Filters)).toEqual(
      [[{ Name: 'public-ip', Values: ['203.0.113.7'] }]],
    );
  });

  it('makes no call for no ids', async () => {
    const compute = new Ec2Compute({ client: ec2.client });

    const facts = await compute.describeInstances([]);

    expect(facts.size).toBe(0);
    expect(ec2.mock.calls()).toHaveLength(0);
  });

  it('describes 200 ids per call (the filter limit) and follows every page', async () => {
    // Prepare: 450 distinct instances asked for (one twice); EC2 answers each filter in pages of 7
    const ids = Array.from({ length: 450 }, (_, n) => `i-${n.toString(16).padStart(17, '0')}`);
    ec2.mock
      .on(DescribeInstancesCommand)
      .callsFake((input: { Filters?: { Values?: string[] }[]; NextToken?: string }) => {
        const asked = input.Filters?.[0]?.Values ?? [];
        const start = Number(input.NextToken ?? '0');
        const end = Math.min(start + 7, asked.length);
        return {
          Reservations: asked
            .slice(start, end)
            .map((id) => ({ Instances: [{ ...spotInstance(id), NetworkInterfaces: [] }] })),
          NextToken: end < asked.length ? String(end) : undefined,
        };
      });
    const compute = new Ec2Compute({ client: ec2.client });

    // Act
    const facts = await compute.describeInstances([...ids, ids[0]!]);

    // Assess
    expect(facts.size).toBe(450);
    const inputs = ec2.mock.commandCalls(DescribeInstancesCommand).map((call) => call.args[0].input);
    const firstPages = inputs.filter((input) => input.NextToken === undefined);
    expect(firstPages.map((input) => input.Filters?.[0]?.Values?.length ?? 0).sort((a, b) => b - a)).toEqual([
      200, 200, 50,
    ]);
    expect(inputs).toHaveLength(Math.ceil(200 / 7) * 2 + Math.ceil(50 / 7));
  });

  it('makes no address call when every public IP was assigned by Amazon', async () => {
    const instance = spotInstance('i-0abc');
    describes({ ...instance, NetworkInterfaces: instance.NetworkInterfaces!.slice(1) });
    const compute = new Ec2Compute({ client: ec2.client });

    const facts = await compute.describeInstances(['i-0abc']);

    expect(facts.get('i-0abc')?.networkInterfaces[0]?.privateIps).toEqual([
      { privateIpAddress: '10.0.2.10', primary: true },
    ]);
    expect(ec2.mock.commandCalls(DescribeAddressesCommand)).toHaveLength(0);
  });

  it('reports an On-Demand instance without lifecycle and one without template tags without a template', async () => {
    describes({
      ...spotInstance('i-0abc'),
      NetworkInterfaces: [],
      InstanceLifecycle: undefined,
      Tags: [{ Key: 'Name', Value: 'web' }],
    });
    const compute = new Ec2Compute({ client: ec2.client });

    const facts = (await compute.describeInstances(['i-0abc'])).get('i-0abc');

    expect(facts?.lifecycle).toBeUndefined();
    expect(facts?.launchTemplate).toBeUndefined();
  });

  it('fails loudly on an instance reported without a state', async () => {
    describes({ ...spotInstance('i-0abc'), NetworkInterfaces: [], State: undefined });
    const compute = new Ec2Compute({ client: ec2.client });

    await expect(compute.describeInstances(['i-0abc'])).rejects.toBeInstanceOf(UnexpectedResponseError);
  });

  it('passes the abort signal to the SDK', async () => {
    describes({ ...spotInstance('i-0abc'), NetworkInterfaces: [] });
    const abortSignal = new AbortController().signal;
    const compute = new Ec2Compute({ client: ec2.client, abortSignal });

    await compute.describeInstances(['i-0abc']);

    const [call] = ec2.mock.commandCalls(DescribeInstancesCommand);
    const options: unknown = call === undefined ? undefined : (call.args as unknown[])[1];
    expect(options).toEqual({ abortSignal });
  });

  it('sends neither instance type, private IP nor tag specifications the request does not set', async () => {
    ec2.mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0new' }] });
    const compute = new Ec2Compute({ client: ec2.client });

    await compute.launch({
      clientToken: 't',
      launchTemplate: { id: 'lt-0abc', version: '$Default' },
      subnetId: 's',
      tags: {},
    });

    const input = ec2.mock.commandCalls(RunInstancesCommand)[0]?.args[0].input;
    expect(input).not.toHaveProperty('InstanceType');
    expect(input).not.toHaveProperty('PrivateIpAddress');
    expect(input).not.toHaveProperty('TagSpecifications');
  });

  it('throws any other error than a capacity error', async () => {
    ec2.mock.on(RunInstancesCommand).rejects(ec2Error('InvalidLaunchTemplateId.NotFound'));
    const compute = new Ec2Compute({ client: ec2.client });

    await expect(compute.launch(request)).rejects.toMatchObject({ name: 'InvalidLaunchTemplateId.NotFound' });
  });

  it('throws when EC2 answers without an instance id', async () => {
    ec2.mock.on(RunInstancesCommand).resolves({ Instances: [] });
    const compute = new Ec2Compute({ client: ec2.client });

    await expect(compute.launch(request)).rejects.toBeInstanceOf(UnexpectedResponseError);
  });

  it('throws in a dry run when the endpoint ignores DryRun and launches', async () => {
    ec2.mock.on(RunInstancesCommand).resolves({ Instances: [{ InstanceId: 'i-0launched' }] });
    const compute = new Ec2Compute({ client: ec2.client, dryRun: true, plan: createPlanLog() });

    await expect(compute.launch(request)).rejects.toBeInstanceOf(UnexpectedResponseError);
  });
});

describe('Ec2Compute against the local cloud', () => {
  let world: Ec2World;
  /** The request, in the local cloud's subnet of us-east-1b and with its launch template. */
  let launch: LaunchRequest;

  beforeEach(async () => {
    world = await ec2World();
    const subnet = world.subnets.find((s) => s.AvailabilityZone === 'us-east-1b')!;
    launch = {
      ...request,
      launchTemplate: { id: world.launchTemplateId, version: '1' },
      subnetId: subnet.SubnetId!,
      privateIpAddress: undefined,
    };
  });
  afterEach(async () => {
    await world.stop();
  });

  /** The instances EC2 holds that were launched with the token. */
  const launchedWith = (clientToken: string) =>
    world.cloud.ec2.instances().filter((instance) => instance.clientToken === clientToken);

  it('leaves out an instance EC2 no longer knows instead of failing the call', async () => {
    const { instanceId } = (await new Ec2Compute({ client: world.client }).launch(launch)) as {
      instanceId: string;
    };
    world.sent.resetHistory();
    const compute = new Ec2Compute({ client: world.client });

    const facts = await compute.describeInstances([instanceId, 'i-0123456789abcdef0']);

    expect([...facts.keys()]).toEqual([instanceId]);
    const [call] = world.sent.commandCalls(DescribeInstancesCommand);
    expect(call?.args[0].input).toMatchObject({
      Filters: [{ Name: 'instance-id', Values: [instanceId, 'i-0123456789abcdef0'] }],
    });
    expect(call?.args[0].input.InstanceIds).toBeUndefined();
  });

  it('launches one instance from the template with the token, overrides and tags of the request', async () => {
    const compute = new Ec2Compute({ client: world.client });

    const result = await compute.launch(launch);

    const [launched] = launchedWith('wf-i-0abc-1');
    // The template asks for Spot: the result says what EC2 launched.
    expect(result).toEqual({ ok: true, instanceId: launched?.instanceId, lifecycle: 'spot' });
    expect(launched).toMatchObject({
      instanceType: 'm5.xlarge',
      availabilityZone: 'us-east-1b',
      tags: { Name: 'web', 'spot-handoff:replaces': 'i-0abc' },
    });
    const tags = [
      { Key: 'Name', Value: 'web' },
      { Key: 'spot-handoff:replaces', Value: 'i-0abc' },
    ];
    expect(world.sent.commandCalls(RunInstancesCommand)[0]?.args[0].input).toEqual({
      LaunchTemplate: { LaunchTemplateId: world.launchTemplateId, Version: '1' },
      SubnetId: launch.subnetId,
      MinCount: 1,
      MaxCount: 1,
      ClientToken: 'wf-i-0abc-1',
      InstanceType: 'm5.xlarge',
      TagSpecifications: [
        { ResourceType: 'instance', Tags: tags },
        { ResourceType: 'volume', Tags: tags },
        { ResourceType: 'network-interface', Tags: tags },
      ],
    });
  });

  it('asks for Spot in the request when told to (for a template that does not)', async () => {
    await new Ec2Compute({ client: world.client }).launch({ ...launch, spot: true });

    expect(launchedWith('wf-i-0abc-1')[0]?.lifecycle).toBe('spot');
    expect(world.sent.commandCalls(RunInstancesCommand)[0]?.args[0].input.InstanceMarketOptions).toEqual({
      MarketType: 'spot',
    });
  });

  it('asks for the private IP of the request', async () => {
    const cidr = world.subnets.find((s) => s.SubnetId === launch.subnetId)!.CidrBlock!;
    const privateIpAddress = cidr.replace(/\.0\/\d+$/, '.77');

    await new Ec2Compute({ client: world.client }).launch({ ...launch, privateIpAddress });

    expect(launchedWith('wf-i-0abc-1')[0]?.privateIpAddress).toBe(privateIpAddress);
    expect(world.sent.commandCalls(RunInstancesCommand)[0]?.args[0].input.PrivateIpAddress).toBe(
      privateIpAddress,
    );
  });

  it('returns the same instance when retried with the same token', async () => {
    const compute = new Ec2Compute({ client: world.client });

    const first = await compute.launch(launch);
    const second = await compute.launch(launch);

    expect(second).toEqual(first);
    expect(launchedWith('wf-i-0abc-1')).toHaveLength(1);
  });

  it('turns a capacity error into a result', async () => {
    world.cloud.setCapacity({ instanceType: 'm5.xlarge' }, false);
    const compute = new Ec2Compute({ client: world.client });

    const result = await compute.launch(launch);

    expect(result).toEqual({
      ok: false,
      reason: 'capacity',
      code: 'InsufficientInstanceCapacity',
      message: expect.stringMatching(/no Spot capacity available/),
    });
    expect(world.cloud.ec2.instances()).toHaveLength(0);
  });

  describe('in a dry run', () => {
    it('asks EC2 with DryRun, launches nothing and plans the launch under a fake id from the token', async () => {
      const plan = createPlanLog();
      const compute = new Ec2Compute({ client: world.client, dryRun: true, plan });

      const result = await compute.launch(launch);

      expect(result).toEqual({ ok: true, instanceId: dryRunInstanceId('wf-i-0abc-1') });
      expect(dryRunInstanceId('wf-i-0abc-1')).toMatch(/^i-dryrun[0-9a-f]{9}$/);
      expect(world.cloud.ec2.instances()).toHaveLength(0);
      expect(
        world.sent.commandCalls(RunInstancesCommand, { DryRun: true, ClientToken: 'wf-i-0abc-1' }),
      ).toHaveLength(1);
      expect(plan.entries()).toEqual([
        {
          service: 'ec2',
          action: 'RunInstances',
          params: expect.objectContaining({ ClientToken: 'wf-i-0abc-1', SubnetId: launch.subnetId }),
          outcome: 'would-succeed',
        },
      ]);
    });

    it('throws when EC2 says the launch would fail, and plans nothing', async () => {
      world.cloud.injectFault('RunInstances', 'InvalidParameterValue');
      const plan = createPlanLog();
      const compute = new Ec2Compute({ client: world.client, dryRun: true, plan });

      await expect(compute.launch(launch)).rejects.toMatchObject({ name: 'InvalidParameterValue' });
      expect(plan.entries()).toEqual([]);
    });

    it('plans a launch the caller may not make as denied-to-caller (a dry run needs only read permissions)', async () => {
      world.cloud.injectFault('RunInstances', 'UnauthorizedOperation');
      const plan = createPlanLog();
      const compute = new Ec2Compute({ client: world.client, dryRun: true, plan });

      await compute.launch(launch);

      expect(plan.entries()).toEqual([
        expect.objectContaining({ service: 'ec2', action: 'RunInstances', outcome: 'denied-to-caller' }),
      ]);
      expect(world.cloud.ec2.instances()).toHaveLength(0);
    });

    it('reads for real', async () => {
      const { instanceId } = (await new Ec2Compute({ client: world.client }).launch(launch)) as {
        instanceId: string;
      };
      const compute = new Ec2Compute({ client: world.client, dryRun: true, plan: createPlanLog() });

      const facts = await compute.describeInstances([instanceId]);

      expect(facts.get(instanceId)?.state).toBe('pending');
    });
  });
});
