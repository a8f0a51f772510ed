import {
  type Address,
  DescribeAddressesCommand,
  type DescribeAddressesCommandInput,
  DescribeInstancesCommand,
  type DescribeInstancesCommandInput,
  EC2Client,
  EC2ServiceException,
  type Instance,
  RunInstancesCommand,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createPlanLog } from '../../src/aws/dry-run.ts';
import { Ec2Compute } from '../../src/aws/ec2.ts';
import { dryRunInstanceId } from '../../src/aws/ec2-base.ts';
import { UnexpectedResponseError } from '../../src/aws/errors.ts';
import type { LaunchRequest } from '../../src/core/ports.ts';

const ec2Mock = mockClient(EC2Client);

/** An error as the SDK throws it for an EC2 error code (EC2 errors are unmodelled: `name` is the code). */
function ec2Error(code: string, message = `${code} (test)`): EC2ServiceException {
  return new EC2ServiceException({
    name: code,
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message,
  });
}

/**
 * A small stateful EC2: instances and addresses it knows, the 200-values filter limit, pagination,
 * ClientToken idempotency, DryRun, and capacity failures injected a number of times.
 */
class FakeEc2Api {
  readonly instances = new Map<string, Instance>();
  readonly addresses: Address[] = [];
  readonly launchedByToken = new Map<string, string>();
  describePageSize = 1000;
  capacityFailures = 0;
  dryRunAllowed = true;
  /** An endpoint that ignores DryRun (launches for real): the adapter must notice. */
  ignoresDryRun = false;
  #next = 0;

  constructor() {
    ec2Mock
      .on(DescribeInstancesCommand)
      .callsFake((input: DescribeInstancesCommandInput) => this.describe(input));
    ec2Mock
      .on(DescribeAddressesCommand)
      .callsFake((input: DescribeAddressesCommandInput) => this.addressesOf(input));
    ec2Mock.on(RunInstancesCommand).callsFake((input: RunInstancesCommandInput) => this.run(input));
  }

  add(instance: Instance): Instance {
    this.instances.set(instance.InstanceId!, instance);
    return instance;
  }

  describe(input: DescribeInstancesCommandInput) {
    const ids = input.Filters?.find((filter) => filter.Name === 'instance-id')?.Values ?? [];
    if (ids.length > 200) throw ec2Error('FilterLimitExceeded');
    const matching = [...this.instances.values()].filter((instance) => ids.includes(instance.InstanceId!));
    const start = Number(input.NextToken ?? '0');
    const page = matching.slice(start, start + this.describePageSize);
    const end = start + page.length;
    return {
      Reservations: page.map((instance) => ({ Instances: [instance] })),
      NextToken: end < matching.length ? String(end) : undefined,
    };
  }

  addressesOf(input: DescribeAddressesCommandInput) {
    const publicIps = input.Filters?.find((filter) => filter.Name === 'public-ip')?.Values ?? [];
    return { Addresses: this.addresses.filter((address) => publicIps.includes(address.PublicIp!)) };
  }

  run(input: RunInstancesCommandInput) {
    if (input.DryRun && !this.ignoresDryRun) {
      throw this.dryRunAllowed ? ec2Error('DryRunOperation') : ec2Error('UnauthorizedOperation');
    }
    const known = input.ClientToken === undefined ? undefined : this.launchedByToken.get(input.ClientToken);
    if (known !== undefined) return { Instances: [this.instances.get(known)] };
    if (this.capacityFailures > 0) {
      this.capacityFailures -= 1;
      throw ec2Error(
        'InsufficientInstanceCapacity',
        'We currently do not have sufficient m5.large capacity.',
      );
    }
    const instanceId = `i-${(++this.#next).toString(16).padStart(17, '0')}`;
    const instance = this.add({
      InstanceId: instanceId,
      State: { Name: 'pending', Code: 0 },
      InstanceType: input.InstanceType ?? 'm5.large',
      Placement: { AvailabilityZone: 'us-east-1a' },
      SubnetId: input.SubnetId,
      PrivateIpAddress: input.PrivateIpAddress,
      ClientToken: input.ClientToken,
      Tags: input.TagSpecifications?.find((spec) => spec.ResourceType === 'instance')?.Tags,
    });
    if (input.ClientToken !== undefined) this.launchedByToken.set(input.ClientToken, instanceId);
    return { Instances: [instance] };
  }
}

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

let ec2: FakeEc2Api;
let client: EC2Client;

beforeEach(() => {
  ec2Mock.reset();
  ec2 = new FakeEc2Api();
  client = new EC2Client({ region: 'us-east-1' });
});

describe('Ec2Compute.describeInstances', () => {
  it('maps what EC2 reports to instance facts, Elastic IPs included', async () => {
    // Prepare
    ec2.add(spotInstance('i-0abc'));
    ec2.addresses.push({
      PublicIp: '203.0.113.7',
      AllocationId: 'eipalloc-1',
      AssociationId: 'eipassoc-1',
      NetworkInterfaceId: 'eni-secondary',
      PrivateIpAddress: '10.0.2.20',
    });
    const compute = new Ec2Compute({ client });

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
    expect(ec2Mock.commandCalls(DescribeAddressesCommand).map((call) => call.args[0].input.Filters)).toEqual([
      [{ Name: 'public-ip', Values: ['203.0.113.7'] }],
    ]);
  });

  it('leaves out an instance EC2 no longer knows instead of failing the call', async () => {
    ec2.add({ ...spotInstance('i-0abc'), NetworkInterfaces: [] });
    const compute = new Ec2Compute({ client });

    const facts = await compute.describeInstances(['i-0abc', 'i-0gone']);

    expect([...facts.keys()]).toEqual(['i-0abc']);
    const [call] = ec2Mock.commandCalls(DescribeInstancesCommand);
    expect(call?.args[0].input).toMatchObject({
      Filters: [{ Name: 'instance-id', Values: ['i-0abc', 'i-0gone'] }],
    });
    expect(call?.args[0].input.InstanceIds).toBeUndefined();
  });

  it('makes no call for no ids', async () => {
    const compute = new Ec2Compute({ client });

    const facts = await compute.describeInstances([]);

    expect(facts.size).toBe(0);
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  it('describes 200 ids per call (the filter limit) and follows every page', async () => {
    // Prepare: 450 distinct instances asked for (one twice), EC2 answering 7 per page
    const ids = Array.from({ length: 450 }, (_, n) => `i-${n.toString(16).padStart(17, '0')}`);
    for (const id of ids) ec2.add({ ...spotInstance(id), NetworkInterfaces: [] });
    ec2.describePageSize = 7;
    const compute = new Ec2Compute({ client });

    // Act
    const facts = await compute.describeInstances([...ids, ids[0]!]);

    // Assess
    expect(facts.size).toBe(450);
    const inputs = ec2Mock.commandCalls(DescribeInstancesCommand).map((call) => call.args[0].input);
    const firstPages = inputs.filter((input) => input.NextToken === undefined);
    expect(firstPages.map((input) => input.Filters?.[0]?.Values?.length ?? 0).sort((a, b) => b - a)).toEqual([
      200, 200, 50,
    ]);
    expect(inputs).toHaveLength(Math.ceil(200 / 7) * 2 + Math.ceil(50 / 7));
  });

  it('makes no address call when every public IP was assigned by Amazon', async () => {
    const instance = spotInstance('i-0abc');
    ec2.add({ ...instance, NetworkInterfaces: instance.NetworkInterfaces!.slice(1) });
    const compute = new Ec2Compute({ client });

    const facts = await compute.describeInstances(['i-0abc']);

    expect(facts.get('i-0abc')?.networkInterfaces[0]?.privateIps).toEqual([
      { privateIpAddress: '10.0.2.10', primary: true },
    ]);
    expect(ec2Mock.commandCalls(DescribeAddressesCommand)).toHaveLength(0);
  });

  it('reports an On-Demand instance without lifecycle and one without template tags without a template', async () => {
    ec2.add({
      ...spotInstance('i-0abc'),
      InstanceLifecycle: undefined,
      Tags: [{ Key: 'Name', Value: 'web' }],
    });
    const compute = new Ec2Compute({ client });

    const facts = (await compute.describeInstances(['i-0abc'])).get('i-0abc');

    expect(facts?.lifecycle).toBeUndefined();
    expect(facts?.launchTemplate).toBeUndefined();
  });

  it('fails loudly on an instance reported without a state', async () => {
    ec2.add({ ...spotInstance('i-0abc'), State: undefined });
    const compute = new Ec2Compute({ client });

    await expect(compute.describeInstances(['i-0abc'])).rejects.toBeInstanceOf(UnexpectedResponseError);
  });

  it('passes the abort signal to the SDK', async () => {
    ec2.add(spotInstance('i-0abc'));
    const abortSignal = new AbortController().signal;
    const compute = new Ec2Compute({ client, abortSignal });

    await compute.describeInstances(['i-0abc']);

    const [call] = ec2Mock.commandCalls(DescribeInstancesCommand);
    const options: unknown = call === undefined ? undefined : (call.args as unknown[])[1];
    expect(options).toEqual({ abortSignal });
  });
});

describe('Ec2Compute.launch', () => {
  it('launches one instance from the template with the token, overrides and tags of the request', async () => {
    const compute = new Ec2Compute({ client });

    const result = await compute.launch(request);

    expect(result).toEqual({ ok: true, instanceId: ec2.launchedByToken.get('wf-i-0abc-1') });
    const tags = [
      { Key: 'Name', Value: 'web' },
      { Key: 'spot-handoff:replaces', Value: 'i-0abc' },
    ];
    expect(ec2Mock.commandCalls(RunInstancesCommand)[0]?.args[0].input).toEqual({
      LaunchTemplate: { LaunchTemplateId: 'lt-0abc', Version: '3' },
      SubnetId: 'subnet-b',
      MinCount: 1,
      MaxCount: 1,
      ClientToken: 'wf-i-0abc-1',
      InstanceType: 'm5.xlarge',
      PrivateIpAddress: '10.0.2.10',
      TagSpecifications: [
        { ResourceType: 'instance', Tags: tags },
        { ResourceType: 'volume', Tags: tags },
        { ResourceType: 'network-interface', Tags: tags },
      ],
    });
  });

  it('sends neither instance type, private IP nor tag specifications the request does not set', async () => {
    const compute = new Ec2Compute({ client });

    await compute.launch({
      clientToken: 't',
      launchTemplate: { id: 'lt-0abc', version: '$Default' },
      subnetId: 's',
      tags: {},
    });

    const input = ec2Mock.commandCalls(RunInstancesCommand)[0]?.args[0].input;
    expect(input).not.toHaveProperty('InstanceType');
    expect(input).not.toHaveProperty('PrivateIpAddress');
    expect(input).not.toHaveProperty('TagSpecifications');
  });

  it('returns the same instance when retried with the same token', async () => {
    const compute = new Ec2Compute({ client });

    const first = await compute.launch(request);
    const second = await compute.launch(request);

    expect(second).toEqual(first);
    expect(ec2.instances.size).toBe(1);
  });

  it('turns a capacity error into a result', async () => {
    ec2.capacityFailures = 1;
    const compute = new Ec2Compute({ client });

    const result = await compute.launch(request);

    expect(result).toEqual({
      ok: false,
      reason: 'capacity',
      code: 'InsufficientInstanceCapacity',
      message: 'We currently do not have sufficient m5.large capacity.',
    });
    expect(ec2.instances.size).toBe(0);
  });

  it('throws any other error', async () => {
    ec2Mock.on(RunInstancesCommand).rejects(ec2Error('InvalidLaunchTemplateId.NotFound'));
    const compute = new Ec2Compute({ client });

    await expect(compute.launch(request)).rejects.toMatchObject({ name: 'InvalidLaunchTemplateId.NotFound' });
  });

  it('throws when EC2 answers without an instance id', async () => {
    ec2Mock.on(RunInstancesCommand).resolves({ Instances: [] });
    const compute = new Ec2Compute({ client });

    await expect(compute.launch(request)).rejects.toBeInstanceOf(UnexpectedResponseError);
  });
});

describe('Ec2Compute.launch in a dry run', () => {
  it('asks EC2 with DryRun, launches nothing and plans the launch under a fake id from the token', async () => {
    const plan = createPlanLog();
    const compute = new Ec2Compute({ client, dryRun: true, plan });

    const result = await compute.launch(request);

    expect(result).toEqual({ ok: true, instanceId: dryRunInstanceId('wf-i-0abc-1') });
    expect(dryRunInstanceId('wf-i-0abc-1')).toMatch(/^i-dryrun[0-9a-f]{9}$/);
    expect(ec2.instances.size).toBe(0);
    expect(
      ec2Mock.commandCalls(RunInstancesCommand, { DryRun: true, ClientToken: 'wf-i-0abc-1' }),
    ).toHaveLength(1);
    expect(plan.entries()).toEqual([
      {
        service: 'ec2',
        action: 'RunInstances',
        params: expect.objectContaining({ ClientToken: 'wf-i-0abc-1', SubnetId: 'subnet-b' }),
        outcome: 'would-succeed',
      },
    ]);
  });

  it('throws when EC2 says the launch would fail, and plans nothing', async () => {
    ec2.dryRunAllowed = false;
    const plan = createPlanLog();
    const compute = new Ec2Compute({ client, dryRun: true, plan });

    await expect(compute.launch(request)).rejects.toMatchObject({ name: 'UnauthorizedOperation' });
    expect(plan.entries()).toEqual([]);
  });

  it('throws when the endpoint ignores DryRun and launches', async () => {
    ec2.ignoresDryRun = true;
    const compute = new Ec2Compute({ client, dryRun: true, plan: createPlanLog() });

    await expect(compute.launch(request)).rejects.toBeInstanceOf(UnexpectedResponseError);
  });

  it('reads for real', async () => {
    ec2.add(spotInstance('i-0abc'));
    const compute = new Ec2Compute({ client, dryRun: true, plan: createPlanLog() });

    const facts = await compute.describeInstances(['i-0abc']);

    expect(facts.get('i-0abc')?.state).toBe('running');
  });
});
