import {
  AllocateAddressCommand,
  AssignPrivateIpAddressesCommand,
  AssociateAddressCommand,
  AttachNetworkInterfaceCommand,
  AttachVolumeCommand,
  CreateLaunchTemplateCommand,
  CreateNetworkInterfaceCommand,
  CreateSnapshotCommand,
  CreateSubnetCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  CreateVpcCommand,
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSnapshotsCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  DescribeVpcsCommand,
  DetachNetworkInterfaceCommand,
  DetachVolumeCommand,
  EC2Client,
  type Instance,
  ModifyInstanceAttributeCommand,
  ModifyNetworkInterfaceAttributeCommand,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  StartInstancesCommand,
  StopInstancesCommand,
  type Subnet,
  TerminateInstancesCommand,
  UnassignPrivateIpAddressesCommand,
} from '@aws-sdk/client-ec2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createClock } from '../../localcloud/clock.ts';
import type { QueryRequest } from '../../localcloud/contracts.ts';
import { createEc2Service } from '../../localcloud/ec2/service.ts';
import { type EventEnvelope, LocalCloud, type LocalCloudOptions } from '../../localcloud/index.ts';
import { EC2_ACTIONS } from '../../src/aws/aws-buckets.ts';
import { failureOf } from '../support/failure.ts';

const IMAGE_ID = 'ami-0123456789abcdef0';

let cloud: LocalCloud;
let ec2: EC2Client;
let subnets: Subnet[];
let templateId: string;

async function startCloud(options: LocalCloudOptions = {}) {
  cloud = await LocalCloud.start({ dynamodb: false, ...options });
  ec2 = new EC2Client({ ...cloud.clientConfig(), maxAttempts: 1 });
  subnets = (await ec2.send(new DescribeSubnetsCommand({}))).Subnets ?? [];
  subnets.sort((a, b) => (a.AvailabilityZone! < b.AvailabilityZone! ? -1 : 1));
  const template = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: 'web-spot',
      LaunchTemplateData: {
        ImageId: IMAGE_ID,
        InstanceType: 'm5.large',
        InstanceMarketOptions: { MarketType: 'spot' },
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'app', Value: 'web' }] }],
      },
    }),
  );
  templateId = template.LaunchTemplate!.LaunchTemplateId!;
}

async function stopCloud() {
  ec2?.destroy();
  await cloud?.stop();
}

/** Launches one instance from the Spot template in the first (or given) subnet. */
async function launch(input: Partial<RunInstancesCommandInput> = {}): Promise<Instance> {
  const result = await ec2.send(
    new RunInstancesCommand({
      MinCount: 1,
      MaxCount: 1,
      LaunchTemplate: { LaunchTemplateId: templateId, Version: '$Latest' },
      SubnetId: subnets[0]!.SubnetId!,
      ...input,
    }),
  );
  return result.Instances![0]!;
}

async function launchRunning(input: Partial<RunInstancesCommandInput> = {}): Promise<Instance> {
  const instance = await launch(input);
  await cloud.clock.advance(8_000);
  return instance;
}

async function describe1(instanceId: string): Promise<Instance> {
  const result = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  return result.Reservations![0]!.Instances![0]!;
}

async function volumeState(volumeId: string) {
  const result = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
  return result.Volumes![0]!;
}

describe('local EC2 through the real EC2Client', () => {
  beforeEach(() => startCloud());
  afterEach(() => stopCloud());

  describe('RunInstances', () => {
    it('launches from a template with the fields the adapters read', async () => {
      // Act
      const launched = await launch({
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'web-1' }] }],
      });
      const described = await describe1(launched.InstanceId!);

      // Assess
      expect(described).toMatchObject({
        InstanceType: 'm5.large',
        InstanceLifecycle: 'spot',
        SubnetId: subnets[0]!.SubnetId,
        VpcId: subnets[0]!.VpcId,
        Placement: { AvailabilityZone: subnets[0]!.AvailabilityZone },
        State: { Name: 'pending', Code: 0 },
        StateReason: { Code: 'pending' },
        RootDeviceName: '/dev/xvda',
      });
      const tags = Object.fromEntries(described.Tags!.map((t) => [t.Key, t.Value]));
      expect(tags).toEqual({
        app: 'web',
        Name: 'web-1',
        'aws:ec2launchtemplate:id': templateId,
        'aws:ec2launchtemplate:version': '1',
      });
      expect(described.LaunchTime).toEqual(cloud.clock.now());
      const [eni] = described.NetworkInterfaces!;
      expect(eni).toMatchObject({
        PrivateIpAddress: described.PrivateIpAddress,
        Attachment: { DeviceIndex: 0, Status: 'attached', DeleteOnTermination: true },
        PrivateIpAddresses: [{ PrivateIpAddress: described.PrivateIpAddress, Primary: true }],
      });
      expect(eni!.Attachment!.AttachmentId).toMatch(/^eni-attach-[0-9a-f]{17}$/);
      expect(described.BlockDeviceMappings).toEqual([
        {
          DeviceName: '/dev/xvda',
          Ebs: expect.objectContaining({
            Status: 'attached',
            DeleteOnTermination: true,
            VolumeId: expect.any(String),
          }),
        },
      ]);
    });

    it('returns the original reservation for a repeated ClientToken and launches nothing more', async () => {
      // Act
      const first = await launch({ ClientToken: 'replace-i-1' });
      const second = await launch({ ClientToken: 'replace-i-1' });

      // Assess
      expect(second.InstanceId).toBe(first.InstanceId);
      expect(cloud.ec2.instances().map((i) => i.instanceId)).toEqual([first.InstanceId]);
      const byToken = await ec2.send(
        new DescribeInstancesCommand({ Filters: [{ Name: 'client-token', Values: ['replace-i-1'] }] }),
      );
      expect(byToken.Reservations!.flatMap((r) => r.Instances!).map((i) => i.InstanceId)).toEqual([
        first.InstanceId,
      ]);
    });

    it('rejects a repeated ClientToken with other parameters', async () => {
      // Prepare
      await launch({ ClientToken: 'replace-i-2' });

      // Act
      const reused = launch({ ClientToken: 'replace-i-2', InstanceType: 'c5.large' });

      // Assess
      await expect(reused).rejects.toMatchObject({
        name: 'IdempotentParameterMismatch',
        $metadata: { httpStatusCode: 400 },
      });
      expect(cloud.ec2.instances()).toHaveLength(1);
    });

    it('takes a free primary private IP and refuses one in use', async () => {
      // Prepare
      const first = await launch({ PrivateIpAddress: '172.31.0.50' });

      // Act
      const clash = launch({ PrivateIpAddress: '172.31.0.50' });

      // Assess
      expect(first.PrivateIpAddress).toBe('172.31.0.50');
      await expect(clash).rejects.toMatchObject({ name: 'InvalidIPAddress.InUse' });
      expect(cloud.ec2.instances()).toHaveLength(1);
    });

    it('fails with InsufficientInstanceCapacity when the pool is out, and launches elsewhere', async () => {
      // Prepare
      cloud.setCapacity({ availabilityZone: subnets[0]!.AvailabilityZone!, instanceType: 'm5.large' }, false);

      // Act
      const refused = await failureOf(launch());
      const otherType = await launch({ InstanceType: 'c5.large' });
      const otherZone = await launch({ SubnetId: subnets[1]!.SubnetId! });

      // Assess
      expect(refused).toMatchObject({
        name: 'InsufficientInstanceCapacity',
        $metadata: { httpStatusCode: 400 },
      });
      expect(cloud.ec2.instances().map((i) => i.instanceId)).toEqual([
        otherType.InstanceId,
        otherZone.InstanceId,
      ]);

      cloud.setCapacity({ availabilityZone: subnets[0]!.AvailabilityZone! }, true);
      await expect(launch()).resolves.toMatchObject({ InstanceType: 'm5.large' });
    });

    it('restores a data volume from a completed snapshot', async () => {
      // Prepare
      const volume = await ec2.send(
        new CreateVolumeCommand({ AvailabilityZone: subnets[0]!.AvailabilityZone!, Size: 20 }),
      );
      await cloud.clock.advance(1_000);
      const snapshot = await ec2.send(new CreateSnapshotCommand({ VolumeId: volume.VolumeId! }));
      await cloud.clock.advance(30_000);

      // Act
      const launched = await launch({
        SubnetId: subnets[2]!.SubnetId!,
        BlockDeviceMappings: [
          { DeviceName: '/dev/sdf', Ebs: { SnapshotId: snapshot.SnapshotId!, DeleteOnTermination: false } },
        ],
      });

      // Assess
      const data = launched.BlockDeviceMappings!.find((m) => m.DeviceName === '/dev/sdf')!;
      const restored = await volumeState(data.Ebs!.VolumeId!);
      expect(restored).toMatchObject({
        SnapshotId: snapshot.SnapshotId,
        Size: 20,
        AvailabilityZone: subnets[2]!.AvailabilityZone,
        Attachments: [{ DeleteOnTermination: false, Device: '/dev/sdf' }],
      });
    });
  });

  describe('errors', () => {
    it('names unknown instance ids the way EC2 does', async () => {
      // Act
      const one = await failureOf(
        ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] })),
      );
      const malformed = await failureOf(ec2.send(new DescribeInstancesCommand({ InstanceIds: ['web-1'] })));

      // Assess
      expect(one).toMatchObject({
        name: 'InvalidInstanceID.NotFound',
        message: "The instance ID 'i-0123456789abcdef0' does not exist",
        $metadata: { httpStatusCode: 400 },
      });
      expect(malformed).toMatchObject({ name: 'InvalidInstanceID.Malformed' });
    });

    it('fails a whole DescribeInstances when one id is unknown, naming every unknown id', async () => {
      // Prepare
      const known = await launch();

      // Act
      const mixed = ec2.send(
        new DescribeInstancesCommand({
          InstanceIds: [known.InstanceId!, 'i-0000000000000000a', 'i-0000000000000000b'],
        }),
      );

      // Assess
      await expect(mixed).rejects.toMatchObject({
        name: 'InvalidInstanceID.NotFound',
        message: "The instance IDs 'i-0000000000000000a, i-0000000000000000b' do not exist",
      });
    });

    it('reports other unknown resources with their own codes', async () => {
      await expect(
        ec2.send(new DescribeVolumesCommand({ VolumeIds: ['vol-0123456789abcdef0'] })),
      ).rejects.toMatchObject({ name: 'InvalidVolume.NotFound' });
      await expect(
        ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: ['eni-0123456789abcdef0'] })),
      ).rejects.toMatchObject({ name: 'InvalidNetworkInterfaceID.NotFound' });
      await expect(
        ec2.send(new DescribeAddressesCommand({ AllocationIds: ['eipalloc-0123456789abcdef0'] })),
      ).rejects.toMatchObject({ name: 'InvalidAllocationID.NotFound' });
    });

    it('answers an unknown action with InvalidAction', async () => {
      // Act
      const response = await fetch(cloud.endpoint, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'Action=DescribeUnicorns&Version=2016-11-15',
      });

      // Assess
      expect(response.status).toBe(400);
      expect(await response.text()).toContain('<Code>InvalidAction</Code>');
    });

    it('rejects an unknown filter name', async () => {
      await expect(
        ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: 'colour', Values: ['blue'] }] })),
      ).rejects.toMatchObject({ name: 'InvalidParameterValue' });
    });
  });

  describe('DryRun', () => {
    it('validates, then fails with DryRunOperation and changes nothing', async () => {
      // Prepare
      const running = await launchRunning();

      // Act
      const dryLaunch = await failureOf(launch({ DryRun: true }));
      const dryTerminate = await failureOf(
        ec2.send(new TerminateInstancesCommand({ InstanceIds: [running.InstanceId!], DryRun: true })),
      );

      // Assess
      expect(dryLaunch).toMatchObject({
        name: 'DryRunOperation',
        message: 'Request would have succeeded, but DryRun flag is set.',
        $metadata: { httpStatusCode: 412 },
      });
      expect(dryTerminate).toMatchObject({ name: 'DryRunOperation' });
      expect(cloud.ec2.instances().map((i) => [i.instanceId, i.state])).toEqual([
        [running.InstanceId, 'running'],
      ]);
    });

    it('reports the real error when the request would fail', async () => {
      const dry = ec2.send(
        new TerminateInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'], DryRun: true }),
      );
      await expect(dry).rejects.toMatchObject({ name: 'InvalidInstanceID.NotFound' });
    });
  });

  describe('instance lifecycle', () => {
    it('moves pending → running only when virtual time reaches the boot time', async () => {
      // Prepare
      const launched = await launch();

      // Act
      await cloud.clock.advance(7_999);
      const stillPending = await describe1(launched.InstanceId!);
      await cloud.clock.advance(1);
      const running = await describe1(launched.InstanceId!);

      // Assess
      expect(stillPending.State).toEqual({ Code: 0, Name: 'pending' });
      expect(running.State).toEqual({ Code: 16, Name: 'running' });
      expect(running.StateReason).toBeUndefined();
    });

    it('emits a state-change event for every transition', async () => {
      // Prepare
      const events: EventEnvelope[] = [];
      cloud.onEvent((event) => events.push(event));
      const launched = await launchRunning();

      // Act
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [launched.InstanceId!] }));
      await cloud.clock.advance(5_000);

      // Assess
      expect(events.map((e) => [e['detail-type'], e.detail['state']])).toEqual([
        ['EC2 Instance State-change Notification', 'pending'],
        ['EC2 Instance State-change Notification', 'running'],
        ['EC2 Instance State-change Notification', 'shutting-down'],
        ['EC2 Instance State-change Notification', 'terminated'],
      ]);
      expect(events[1]).toMatchObject({
        version: '0',
        source: 'aws.ec2',
        account: '123456789012',
        region: 'us-east-1',
        time: '2026-01-01T12:00:08Z',
        resources: [`arn:aws:ec2:us-east-1:123456789012:instance/${launched.InstanceId}`],
        detail: { 'instance-id': launched.InstanceId, state: 'running' },
      });
    });

    it('keeps a terminated instance visible for an hour, then forgets it', async () => {
      // Prepare
      const launched = await launchRunning();
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [launched.InstanceId!] }));
      await cloud.clock.advance(5_000);

      // Act
      const terminated = await describe1(launched.InstanceId!);
      await cloud.clock.advance(3_600_000);
      const gone = ec2.send(new DescribeInstancesCommand({ InstanceIds: [launched.InstanceId!] }));

      // Assess
      expect(terminated).toMatchObject({
        State: { Name: 'terminated', Code: 48 },
        StateReason: { Code: 'Client.UserInitiatedShutdown' },
        NetworkInterfaces: [],
        BlockDeviceMappings: [],
      });
      await expect(gone).rejects.toMatchObject({ name: 'InvalidInstanceID.NotFound' });
    });

    it('refuses to stop a Spot instance of a one-time request', async () => {
      const launched = await launchRunning();
      const stop = ec2.send(new StopInstancesCommand({ InstanceIds: [launched.InstanceId!] }));
      await expect(stop).rejects.toMatchObject({ name: 'UnsupportedOperation' });
      expect(cloud.ec2.instance(launched.InstanceId!)?.state).toBe('running');
    });
  });

  describe('Spot interruption', () => {
    it('sends the rebalance recommendation, the warning, then terminates, in virtual time', async () => {
      // Prepare
      const launched = await launchRunning();
      const events: EventEnvelope[] = [];
      cloud.onEvent((event) => events.push(event));

      // Act
      cloud.interrupt(launched.InstanceId!, { rebalance: true });
      await cloud.clock.advance(600_000 + 120_000 + 5_000);

      // Assess
      expect(events.map((e) => [e['detail-type'], e.time, e.detail])).toEqual([
        [
          'EC2 Instance Rebalance Recommendation',
          '2026-01-01T12:00:08Z',
          { 'instance-id': launched.InstanceId },
        ],
        [
          'EC2 Spot Instance Interruption Warning',
          '2026-01-01T12:10:08Z',
          { 'instance-id': launched.InstanceId, 'instance-action': 'terminate' },
        ],
        [
          'EC2 Instance State-change Notification',
          '2026-01-01T12:12:08Z',
          { 'instance-id': launched.InstanceId, state: 'shutting-down' },
        ],
        [
          'EC2 Instance State-change Notification',
          '2026-01-01T12:12:13Z',
          { 'instance-id': launched.InstanceId, state: 'terminated' },
        ],
      ]);
      expect(await describe1(launched.InstanceId!)).toMatchObject({
        State: { Name: 'terminated' },
        StateReason: {
          Code: 'Server.SpotInstanceTermination',
          Message: 'Server.SpotInstanceTermination: Spot instance termination',
        },
      });
    });

    it('lets code reacting to the warning act before the instance is gone', async () => {
      // Prepare
      const launched = await launchRunning();
      let reaction: Promise<string | undefined> | undefined;
      cloud.onEvent((event) => {
        if (event['detail-type'] !== 'EC2 Spot Instance Interruption Warning') return;
        reaction = describe1(launched.InstanceId!).then((i) => i.State?.Name);
      });

      // Act
      cloud.interrupt(launched.InstanceId!);
      await cloud.clock.advance(0);
      const seen = await reaction;
      await cloud.clock.advance(125_000);

      // Assess
      expect(seen).toBe('running');
      expect(cloud.ec2.instance(launched.InstanceId!)?.state).toBe('terminated');
    });

    it('refuses to interrupt an On-Demand or a stopped instance', async () => {
      const onDemand = await launchRunning({
        InstanceMarketOptions: undefined,
        LaunchTemplate: undefined,
        ImageId: IMAGE_ID,
      });
      expect(() => cloud.interrupt(onDemand.InstanceId!)).toThrow(/not a Spot instance/);
      const pending = await launch();
      expect(() => cloud.interrupt(pending.InstanceId!)).toThrow(/not running/);
    });
  });

  describe('what survives termination', () => {
    it('deletes DeleteOnTermination=true volumes and interfaces and frees the others after termination', async () => {
      // Prepare: a data volume kept by the template mapping, a secondary interface (attached with
      // DeleteOnTermination=false), and the root volume flipped to false on the running instance.
      const launched = await launchRunning({
        BlockDeviceMappings: [
          { DeviceName: '/dev/sdf', Ebs: { VolumeSize: 10, DeleteOnTermination: false } },
        ],
      });
      const instanceId = launched.InstanceId!;
      const eni = await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: subnets[0]!.SubnetId! }));
      await ec2.send(
        new AttachNetworkInterfaceCommand({
          NetworkInterfaceId: eni.NetworkInterface!.NetworkInterfaceId!,
          InstanceId: instanceId,
          DeviceIndex: 1,
        }),
      );
      await ec2.send(
        new ModifyInstanceAttributeCommand({
          InstanceId: instanceId,
          BlockDeviceMappings: [{ DeviceName: '/dev/xvda', Ebs: { DeleteOnTermination: false } }],
        }),
      );
      const before = await describe1(instanceId);
      const volumeIds = Object.fromEntries(
        before.BlockDeviceMappings!.map((m) => [m.DeviceName, m.Ebs!.VolumeId!]),
      );
      const primaryEni = before.NetworkInterfaces!.find((n) => n.Attachment!.DeviceIndex === 0)!
        .NetworkInterfaceId!;
      const secondaryEni = eni.NetworkInterface!.NetworkInterfaceId!;

      // Act
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [instanceId] }));
      const whileShuttingDown = await volumeState(volumeIds['/dev/sdf']!);
      await cloud.clock.advance(5_000);

      // Assess
      expect(whileShuttingDown.State).toBe('in-use');
      expect((await volumeState(volumeIds['/dev/xvda']!)).State).toBe('available');
      expect((await volumeState(volumeIds['/dev/sdf']!)).State).toBe('available');
      await expect(
        ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [primaryEni] })),
      ).rejects.toMatchObject({ name: 'InvalidNetworkInterfaceID.NotFound' });
      const kept = await ec2.send(
        new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [secondaryEni] }),
      );
      expect(kept.NetworkInterfaces![0]).toMatchObject({ Status: 'available' });
      expect(kept.NetworkInterfaces![0]!.Attachment).toBeUndefined();
    });

    it('keeps the primary interface and its IP when its attachment is set to DeleteOnTermination=false', async () => {
      // Prepare
      const launched = await launchRunning();
      const eni = launched.NetworkInterfaces![0]!;
      await ec2.send(
        new ModifyNetworkInterfaceAttributeCommand({
          NetworkInterfaceId: eni.NetworkInterfaceId!,
          Attachment: { AttachmentId: eni.Attachment!.AttachmentId!, DeleteOnTermination: false },
        }),
      );

      // Act
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [launched.InstanceId!] }));
      await cloud.clock.advance(5_000);

      // Assess
      const interfaces = await ec2.send(
        new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eni.NetworkInterfaceId!] }),
      );
      expect(interfaces.NetworkInterfaces![0]).toMatchObject({
        Status: 'available',
        PrivateIpAddress: launched.PrivateIpAddress,
      });
      await expect(launch({ PrivateIpAddress: launched.PrivateIpAddress! })).rejects.toMatchObject({
        name: 'InvalidIPAddress.InUse',
      });
    });

    it('frees the primary IP when the instance is gone, not before', async () => {
      // Prepare
      const old = await launchRunning();
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [old.InstanceId!] }));

      // Act
      const tooEarly = launch({ PrivateIpAddress: old.PrivateIpAddress! });
      await expect(tooEarly).rejects.toMatchObject({ name: 'InvalidIPAddress.InUse' });
      await cloud.clock.advance(5_000);
      const replacement = await launch({ PrivateIpAddress: old.PrivateIpAddress! });

      // Assess
      expect(replacement.PrivateIpAddress).toBe(old.PrivateIpAddress);
    });
  });

  describe('EBS volumes and snapshots', () => {
    it('rejects attaching a volume from another AZ', async () => {
      // Prepare
      const instance = await launchRunning();
      const volume = await ec2.send(
        new CreateVolumeCommand({ AvailabilityZone: subnets[1]!.AvailabilityZone!, Size: 10 }),
      );
      await cloud.clock.advance(1_000);

      // Act
      const attach = ec2.send(
        new AttachVolumeCommand({
          VolumeId: volume.VolumeId!,
          InstanceId: instance.InstanceId!,
          Device: '/dev/sdg',
        }),
      );

      // Assess
      await expect(attach).rejects.toMatchObject({ name: 'InvalidVolume.ZoneMismatch' });
      expect((await volumeState(volume.VolumeId!)).State).toBe('available');
    });

    it('goes attaching → attached, and detaching → available, in virtual time', async () => {
      // Prepare
      const instance = await launchRunning();
      const volume = await ec2.send(
        new CreateVolumeCommand({ AvailabilityZone: subnets[0]!.AvailabilityZone!, Size: 10 }),
      );
      expect(volume.State).toBe('creating');
      await cloud.clock.advance(1_000);

      // Act
      const attached = await ec2.send(
        new AttachVolumeCommand({
          VolumeId: volume.VolumeId!,
          InstanceId: instance.InstanceId!,
          Device: '/dev/sdg',
        }),
      );
      const whileAttaching = await volumeState(volume.VolumeId!);
      await cloud.clock.advance(2_000);
      const afterAttach = await describe1(instance.InstanceId!);
      const secondAttach = ec2.send(
        new AttachVolumeCommand({
          VolumeId: volume.VolumeId!,
          InstanceId: instance.InstanceId!,
          Device: '/dev/sdh',
        }),
      );
      await expect(secondAttach).rejects.toMatchObject({ name: 'VolumeInUse' });
      await ec2.send(new DetachVolumeCommand({ VolumeId: volume.VolumeId! }));
      const whileDetaching = await volumeState(volume.VolumeId!);
      await cloud.clock.advance(2_000);

      // Assess
      expect(attached).toMatchObject({
        State: 'attaching',
        Device: '/dev/sdg',
        InstanceId: instance.InstanceId,
      });
      expect(whileAttaching).toMatchObject({ State: 'in-use', Attachments: [{ State: 'attaching' }] });
      expect(afterAttach.BlockDeviceMappings!.find((m) => m.DeviceName === '/dev/sdg')!.Ebs).toMatchObject({
        VolumeId: volume.VolumeId,
        Status: 'attached',
        DeleteOnTermination: false,
      });
      expect(whileDetaching.Attachments).toEqual([expect.objectContaining({ State: 'detaching' })]);
      expect(await volumeState(volume.VolumeId!)).toMatchObject({ State: 'available', Attachments: [] });
    });

    it('refuses a device name already in use', async () => {
      const instance = await launchRunning();
      const volume = await ec2.send(
        new CreateVolumeCommand({ AvailabilityZone: subnets[0]!.AvailabilityZone!, Size: 10 }),
      );
      await cloud.clock.advance(1_000);
      const attach = ec2.send(
        new AttachVolumeCommand({
          VolumeId: volume.VolumeId!,
          InstanceId: instance.InstanceId!,
          Device: '/dev/xvda',
        }),
      );
      await expect(attach).rejects.toMatchObject({ name: 'InvalidParameterValue' });
    });

    it('completes a snapshot after its delay and restores it in another AZ only then', async () => {
      // Prepare
      const volume = await ec2.send(
        new CreateVolumeCommand({ AvailabilityZone: subnets[0]!.AvailabilityZone!, Size: 30 }),
      );
      await cloud.clock.advance(1_000);

      // Act
      const snapshot = await ec2.send(
        new CreateSnapshotCommand({ VolumeId: volume.VolumeId!, Description: 'handover' }),
      );
      const early = ec2.send(
        new CreateVolumeCommand({
          AvailabilityZone: subnets[2]!.AvailabilityZone!,
          SnapshotId: snapshot.SnapshotId!,
        }),
      );
      await expect(early).rejects.toMatchObject({ name: 'IncorrectState' });
      await cloud.clock.advance(29_999);
      const almost = await ec2.send(new DescribeSnapshotsCommand({ SnapshotIds: [snapshot.SnapshotId!] }));
      await cloud.clock.advance(1);
      const done = await ec2.send(new DescribeSnapshotsCommand({ OwnerIds: ['self'] }));
      const restored = await ec2.send(
        new CreateVolumeCommand({
          AvailabilityZone: subnets[2]!.AvailabilityZone!,
          SnapshotId: snapshot.SnapshotId!,
        }),
      );

      // Assess
      expect(snapshot).toMatchObject({ State: 'pending', VolumeId: volume.VolumeId, VolumeSize: 30 });
      expect(almost.Snapshots![0]!.State).toBe('pending');
      expect(done.Snapshots).toEqual([
        expect.objectContaining({ SnapshotId: snapshot.SnapshotId, State: 'completed' }),
      ]);
      expect(restored).toMatchObject({
        SnapshotId: snapshot.SnapshotId,
        Size: 30,
        AvailabilityZone: subnets[2]!.AvailabilityZone,
      });
    });
  });

  describe('network interfaces, private IPs and Elastic IPs', () => {
    it('moves an Elastic IP only with AllowReassociation', async () => {
      // Prepare
      const a = await launchRunning();
      const b = await launchRunning();
      const eip = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
      await ec2.send(
        new AssociateAddressCommand({ AllocationId: eip.AllocationId!, InstanceId: a.InstanceId! }),
      );

      // Act
      const refused = ec2.send(
        new AssociateAddressCommand({ AllocationId: eip.AllocationId!, InstanceId: b.InstanceId! }),
      );
      await expect(refused).rejects.toMatchObject({ name: 'Resource.AlreadyAssociated' });
      const stillOnA = (await ec2.send(new DescribeAddressesCommand({ AllocationIds: [eip.AllocationId!] })))
        .Addresses![0];
      await ec2.send(
        new AssociateAddressCommand({
          AllocationId: eip.AllocationId!,
          InstanceId: b.InstanceId!,
          AllowReassociation: true,
        }),
      );
      const moved = (await ec2.send(new DescribeAddressesCommand({ AllocationIds: [eip.AllocationId!] })))
        .Addresses![0];

      // Assess
      expect(eip.PublicIp).toMatch(/^(203\.0\.113|198\.51\.100|192\.0\.2)\.\d+$/);
      expect(stillOnA).toMatchObject({ InstanceId: a.InstanceId, PrivateIpAddress: a.PrivateIpAddress });
      expect(moved).toMatchObject({ InstanceId: b.InstanceId, PrivateIpAddress: b.PrivateIpAddress });
      expect((await describe1(b.InstanceId!)).PublicIpAddress).toBe(eip.PublicIp);
      expect(
        (await describe1(b.InstanceId!)).NetworkInterfaces![0]!.PrivateIpAddresses![0]!.Association,
      ).toMatchObject({ PublicIp: eip.PublicIp, IpOwnerId: '123456789012' });
      // A default-subnet instance gets an Amazon-owned public IP back once its Elastic IP leaves.
      const aAfter = await describe1(a.InstanceId!);
      expect(aAfter.PublicIpAddress).toMatch(/^198\.1[89]\./);
      expect(aAfter.NetworkInterfaces![0]!.Association).toMatchObject({ IpOwnerId: 'amazon' });
    });

    it('moves a secondary private IP only with AllowReassignment', async () => {
      // Prepare
      const a = await launchRunning();
      const b = await launchRunning();
      const eniA = a.NetworkInterfaces![0]!.NetworkInterfaceId!;
      const eniB = b.NetworkInterfaces![0]!.NetworkInterfaceId!;
      await ec2.send(
        new AssignPrivateIpAddressesCommand({
          NetworkInterfaceId: eniA,
          PrivateIpAddresses: ['172.31.0.100'],
        }),
      );

      // Act
      const refused = ec2.send(
        new AssignPrivateIpAddressesCommand({
          NetworkInterfaceId: eniB,
          PrivateIpAddresses: ['172.31.0.100'],
        }),
      );
      await expect(refused).rejects.toMatchObject({ name: 'InvalidParameterValue' });
      await ec2.send(
        new AssignPrivateIpAddressesCommand({
          NetworkInterfaceId: eniB,
          PrivateIpAddresses: ['172.31.0.100'],
          AllowReassignment: true,
        }),
      );

      // Assess
      const ipsOf = async (instanceId: string) =>
        (await describe1(instanceId)).NetworkInterfaces![0]!.PrivateIpAddresses!.map((ip) => [
          ip.PrivateIpAddress,
          ip.Primary,
        ]);
      expect(await ipsOf(a.InstanceId!)).toEqual([[a.PrivateIpAddress, true]]);
      expect(await ipsOf(b.InstanceId!)).toEqual([
        [b.PrivateIpAddress, true],
        ['172.31.0.100', false],
      ]);
      const primary = ec2.send(
        new AssignPrivateIpAddressesCommand({
          NetworkInterfaceId: eniB,
          PrivateIpAddresses: [a.PrivateIpAddress!],
          AllowReassignment: true,
        }),
      );
      await expect(primary).rejects.toMatchObject({ name: 'InvalidParameterValue' });
    });

    it('carries an Elastic IP along with a reassigned secondary IP, and drops it on unassign', async () => {
      // Prepare
      const a = await launchRunning();
      const b = await launchRunning();
      const eniA = a.NetworkInterfaces![0]!.NetworkInterfaceId!;
      const eniB = b.NetworkInterfaces![0]!.NetworkInterfaceId!;
      await ec2.send(
        new AssignPrivateIpAddressesCommand({ NetworkInterfaceId: eniA, SecondaryPrivateIpAddressCount: 1 }),
      );
      const secondary = cloud.ec2.instance(a.InstanceId!)!.privateIps[1]!;
      const eip = await ec2.send(new AllocateAddressCommand({}));
      await ec2.send(
        new AssociateAddressCommand({
          AllocationId: eip.AllocationId!,
          NetworkInterfaceId: eniA,
          PrivateIpAddress: secondary,
        }),
      );

      // Act
      await ec2.send(
        new AssignPrivateIpAddressesCommand({
          NetworkInterfaceId: eniB,
          PrivateIpAddresses: [secondary],
          AllowReassignment: true,
        }),
      );
      const moved = cloud.ec2.addresses()[0];
      await ec2.send(
        new UnassignPrivateIpAddressesCommand({ NetworkInterfaceId: eniB, PrivateIpAddresses: [secondary] }),
      );

      // Assess
      expect(moved).toMatchObject({
        networkInterfaceId: eniB,
        privateIpAddress: secondary,
        instanceId: b.InstanceId,
      });
      expect(cloud.ec2.addresses()[0]!.associationId).toBeUndefined();
      expect(cloud.ec2.instance(b.InstanceId!)!.privateIps).toEqual([b.PrivateIpAddress]);
    });

    it('attaches a secondary interface only in the same AZ and never detaches the primary', async () => {
      // Prepare
      const instance = await launchRunning();
      const sameZone = await ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: subnets[0]!.SubnetId! }));
      const otherZone = await ec2.send(
        new CreateNetworkInterfaceCommand({ SubnetId: subnets[1]!.SubnetId! }),
      );

      // Act
      const mismatch = ec2.send(
        new AttachNetworkInterfaceCommand({
          NetworkInterfaceId: otherZone.NetworkInterface!.NetworkInterfaceId!,
          InstanceId: instance.InstanceId!,
          DeviceIndex: 1,
        }),
      );
      await expect(mismatch).rejects.toMatchObject({ name: 'InvalidParameterCombination' });
      const attached = await ec2.send(
        new AttachNetworkInterfaceCommand({
          NetworkInterfaceId: sameZone.NetworkInterface!.NetworkInterfaceId!,
          InstanceId: instance.InstanceId!,
          DeviceIndex: 1,
        }),
      );
      const primaryDetach = ec2.send(
        new DetachNetworkInterfaceCommand({
          AttachmentId: instance.NetworkInterfaces![0]!.Attachment!.AttachmentId!,
        }),
      );
      await expect(primaryDetach).rejects.toMatchObject({ name: 'OperationNotPermitted' });
      await cloud.clock.advance(1_000);

      // Assess
      const view = cloud.ec2.instance(instance.InstanceId!)!;
      expect(view.networkInterfaces.map((n) => [n.deviceIndex, n.status])).toEqual([
        [0, 'attached'],
        [1, 'attached'],
      ]);
      expect(view.networkInterfaces[1]!.attachmentId).toBe(attached.AttachmentId);
      expect(view.privateIps).toHaveLength(2);
    });
  });

  describe('launch templates and VPCs', () => {
    it('launches by template name and version number, and fails on an unknown version', async () => {
      const byName = await launch({ LaunchTemplate: { LaunchTemplateName: 'web-spot', Version: '1' } });
      expect(byName.Tags).toEqual(
        expect.arrayContaining([{ Key: 'aws:ec2launchtemplate:version', Value: '1' }]),
      );
      await expect(
        launch({ LaunchTemplate: { LaunchTemplateId: templateId, Version: '7' } }),
      ).rejects.toMatchObject({ name: 'InvalidLaunchTemplateId.VersionNotFound' });
      await expect(
        launch({ LaunchTemplate: { LaunchTemplateName: 'no-such-template' } }),
      ).rejects.toMatchObject({ name: 'InvalidLaunchTemplateName.NotFoundException' });
    });

    it('creates a VPC and a subnet inside it, and launches there', async () => {
      // Act
      const vpc = await ec2.send(new CreateVpcCommand({ CidrBlock: '10.20.0.0/16' }));
      const outside = ec2.send(
        new CreateSubnetCommand({
          VpcId: vpc.Vpc!.VpcId!,
          CidrBlock: '10.99.0.0/24',
          AvailabilityZone: 'us-east-1b',
        }),
      );
      await expect(outside).rejects.toMatchObject({ name: 'InvalidSubnet.Range' });
      const subnet = await ec2.send(
        new CreateSubnetCommand({
          VpcId: vpc.Vpc!.VpcId!,
          CidrBlock: '10.20.1.0/24',
          AvailabilityZone: 'us-east-1b',
        }),
      );
      const overlapping = ec2.send(
        new CreateSubnetCommand({
          VpcId: vpc.Vpc!.VpcId!,
          CidrBlock: '10.20.1.128/25',
          AvailabilityZone: 'us-east-1c',
        }),
      );
      await expect(overlapping).rejects.toMatchObject({ name: 'InvalidSubnet.Conflict' });
      const launched = await launch({ SubnetId: subnet.Subnet!.SubnetId! });

      // Assess
      expect(subnet.Subnet).toMatchObject({ AvailabilityZone: 'us-east-1b', AvailableIpAddressCount: 251 });
      expect(launched).toMatchObject({
        VpcId: vpc.Vpc!.VpcId,
        PrivateIpAddress: '10.20.1.4',
        Placement: { AvailabilityZone: 'us-east-1b' },
      });
      expect(launched.PublicIpAddress).toBeUndefined();
    });
  });

  describe('persistent Spot instances', () => {
    it('are stopped by an interruption when their behavior says stop, and start again', async () => {
      // Prepare
      const launched = await launchRunning({
        InstanceMarketOptions: {
          MarketType: 'spot',
          SpotOptions: { SpotInstanceType: 'persistent', InstanceInterruptionBehavior: 'stop' },
        },
      });
      const events: EventEnvelope[] = [];
      cloud.onEvent((event) => events.push(event));

      // Act
      cloud.interrupt(launched.InstanceId!);
      await cloud.clock.advance(120_000 + 5_000);
      const stopped = await describe1(launched.InstanceId!);
      await ec2.send(new StartInstancesCommand({ InstanceIds: [launched.InstanceId!] }));
      await cloud.clock.advance(8_000);

      // Assess
      expect(events.map((e) => e.detail)).toEqual([
        { 'instance-id': launched.InstanceId, 'instance-action': 'stop' },
        { 'instance-id': launched.InstanceId, state: 'stopping' },
        { 'instance-id': launched.InstanceId, state: 'stopped' },
        { 'instance-id': launched.InstanceId, state: 'pending' },
        { 'instance-id': launched.InstanceId, state: 'running' },
      ]);
      expect(stopped).toMatchObject({
        State: { Name: 'stopped' },
        StateReason: { Code: 'Server.SpotInstanceShutdown' },
        PrivateIpAddress: launched.PrivateIpAddress,
      });
      expect(stopped.PublicIpAddress).toBeUndefined();
      expect(cloud.ec2.instance(launched.InstanceId!)!.state).toBe('running');
    });
  });

  describe('Describe* queries', () => {
    it('filters by tag and state and pages with MaxResults/NextToken', async () => {
      // Prepare
      const first = await ec2.send(
        new RunInstancesCommand({ MinCount: 4, MaxCount: 4, ImageId: IMAGE_ID, InstanceType: 't3.micro' }),
      );
      const second = await ec2.send(
        new RunInstancesCommand({ MinCount: 3, MaxCount: 3, ImageId: IMAGE_ID, InstanceType: 't3.micro' }),
      );
      const launched = [...first.Instances!, ...second.Instances!];
      await ec2.send(
        new CreateTagsCommand({
          Resources: [launched[0]!.InstanceId!],
          Tags: [{ Key: 'role', Value: 'db' }],
        }),
      );
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [launched[6]!.InstanceId!] }));

      // Act
      const tagged = await ec2.send(
        new DescribeInstancesCommand({ Filters: [{ Name: 'tag:role', Values: ['d*'] }] }),
      );
      const pending = await ec2.send(
        new DescribeInstancesCommand({ Filters: [{ Name: 'instance-state-name', Values: ['pending'] }] }),
      );
      const page1 = await ec2.send(new DescribeInstancesCommand({ MaxResults: 5 }));
      const page2 = await ec2.send(
        new DescribeInstancesCommand({ MaxResults: 5, NextToken: page1.NextToken }),
      );

      // Assess
      const ids = (r: { Reservations?: { Instances?: Instance[] }[] }) =>
        (r.Reservations ?? []).flatMap((x) => x.Instances ?? []).map((i) => i.InstanceId);
      expect(ids(tagged)).toEqual([launched[0]!.InstanceId]);
      expect(ids(pending)).toHaveLength(6);
      expect(ids(page1)).toHaveLength(5);
      expect(page2.NextToken).toBeUndefined();
      expect([...ids(page1), ...ids(page2)]).toEqual(launched.map((i) => i.InstanceId));
    });

    it('describes the default VPC, one default subnet per AZ, and launch template versions', async () => {
      const vpcs = await ec2.send(
        new DescribeVpcsCommand({ Filters: [{ Name: 'is-default', Values: ['true'] }] }),
      );
      expect(vpcs.Vpcs).toEqual([expect.objectContaining({ IsDefault: true, State: 'available' })]);
      expect(vpcs.Vpcs![0]!.VpcId).toMatch(/^vpc-[0-9a-f]{17}$/);
      expect(subnets.map((s) => [s.AvailabilityZone, s.DefaultForAz, s.VpcId])).toEqual(
        ['a', 'b', 'c'].map((z) => [`us-east-1${z}`, true, vpcs.Vpcs![0]!.VpcId]),
      );
      const versions = await ec2.send(
        new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: 'web-spot', Versions: ['$Default'] }),
      );
      expect(versions.LaunchTemplateVersions![0]).toMatchObject({
        VersionNumber: 1,
        DefaultVersion: true,
        LaunchTemplateData: { ImageId: IMAGE_ID, InstanceMarketOptions: { MarketType: 'spot' } },
      });
    });
  });
});

describe('local EC2 throttling and faults', () => {
  afterEach(() => stopCloud());

  it('answers RequestLimitExceeded (503) once an action bucket is empty', async () => {
    // Prepare
    await startCloud({ throttling: { buckets: { DescribeVpcs: { capacity: 2, refillPerSecond: 0 } } } });

    // Act
    await ec2.send(new DescribeVpcsCommand({}));
    await ec2.send(new DescribeVpcsCommand({}));
    const third = ec2.send(new DescribeVpcsCommand({}));

    // Assess
    await expect(third).rejects.toMatchObject({
      name: 'RequestLimitExceeded',
      $metadata: { httpStatusCode: 503 },
    });
    await expect(ec2.send(new DescribeSubnetsCommand({}))).resolves.toBeDefined();
    expect(cloud.calls('DescribeVpcs')).toBe(3);
  });

  it('never throttles with throttling off', async () => {
    await startCloud({ throttling: false });
    for (let i = 0; i < 8; i++) await launch();
    expect(cloud.ec2.instances()).toHaveLength(8);
  });

  it("throttles a burst of RunInstances at its bucket's capacity of 5", async () => {
    // Prepare: EC2's RunInstances bucket, with its refill (2 a second) paused so that how fast
    // this machine sends the burst cannot matter.
    const bucket = EC2_ACTIONS['RunInstances']!;
    await startCloud({ throttling: { buckets: { RunInstances: { ...bucket, refillPerSecond: 0 } } } });

    // Act
    const results = await Promise.allSettled(Array.from({ length: 8 }, () => launch()));

    // Assess
    const launched = results.filter((r) => r.status === 'fulfilled');
    const throttled = results.filter((r) => r.status === 'rejected');
    expect(bucket.capacity).toBe(5);
    expect(launched).toHaveLength(5);
    expect(throttled).toHaveLength(3);
    for (const failure of throttled) expect(failure.reason).toMatchObject({ name: 'RequestLimitExceeded' });
    expect(cloud.ec2.instances()).toHaveLength(launched.length);
  });

  it('fails injected calls before touching state, then recovers', async () => {
    // Prepare
    await startCloud();
    cloud.injectFault('RunInstances', 'InternalError', 1);
    cloud.injectFault('TerminateInstances', 'RequestLimitExceeded', 2);

    // Act
    const internal = launch();
    await expect(internal).rejects.toMatchObject({
      name: 'InternalError',
      $metadata: { httpStatusCode: 500 },
    });
    const launched = await launch();
    const terminate = () => ec2.send(new TerminateInstancesCommand({ InstanceIds: [launched.InstanceId!] }));
    await expect(terminate()).rejects.toMatchObject({
      name: 'RequestLimitExceeded',
      $metadata: { httpStatusCode: 503 },
    });
    await expect(terminate()).rejects.toMatchObject({ name: 'RequestLimitExceeded' });
    const stateAfterFaults = cloud.ec2.instance(launched.InstanceId!)!.state;
    await terminate();

    // Assess
    expect(cloud.ec2.instances()).toHaveLength(1);
    expect(stateAfterFaults).toBe('pending');
    expect(cloud.ec2.instance(launched.InstanceId!)!.state).toBe('shutting-down');
    expect(cloud.calls('RunInstances')).toBe(2);
    expect(cloud.calls('TerminateInstances')).toBe(3);
  });
});

describe('local EC2 as the instance directory ELBv2 consults', () => {
  it('reports instances with all their private IPs, the VPC of an IP, and state changes', async () => {
    // Prepare
    const clock = createClock('manual');
    const ec2Service = createEc2Service({ clock, region: 'us-east-1', accountId: '123456789012' });
    let n = 0;
    const call = (action: string, params: Record<string, string>) =>
      ec2Service.handle({
        action,
        version: '2016-11-15',
        params,
        requestId: `r-${n++}`,
      } satisfies QueryRequest);
    const changes: [string, string][] = [];
    ec2Service.onStateChange((instanceId, state) => changes.push([instanceId, state]));

    // Act
    const xml = await call('RunInstances', {
      ImageId: IMAGE_ID,
      MinCount: '1',
      MaxCount: '1',
      PrivateIpAddress: '172.31.0.10',
    });
    const instanceId = /<instanceId>(i-[0-9a-f]+)<\/instanceId>/.exec(xml)![1]!;
    const eniId = /<networkInterfaceId>(eni-[0-9a-f]+)<\/networkInterfaceId>/.exec(xml)![1]!;
    await call('AssignPrivateIpAddresses', {
      NetworkInterfaceId: eniId,
      'PrivateIpAddress.1': '172.31.0.11',
    });
    await clock.advance(8_000);

    // Assess
    expect(ec2Service.instance(instanceId)).toEqual({
      instanceId,
      state: 'running',
      vpcId: ec2Service.inspect.vpcs()[0]!.vpcId,
      availabilityZone: 'us-east-1a',
      privateIps: ['172.31.0.10', '172.31.0.11'],
    });
    expect(ec2Service.instancesWithIp('172.31.0.11')).toEqual([instanceId]);
    expect(ec2Service.vpcOfIp('172.31.200.1')).toBe(ec2Service.inspect.vpcs()[0]!.vpcId);
    expect(ec2Service.vpcOfIp('10.0.0.1')).toBeUndefined();
    expect(ec2Service.instance('i-0123456789abcdef0')).toBeUndefined();
    expect(changes).toEqual([
      [instanceId, 'pending'],
      [instanceId, 'running'],
    ]);
    clock.stop();
  });
});
