import {
  AllocateAddressCommand,
  AssignPrivateIpAddressesCommand,
  AssociateAddressCommand,
  AttachNetworkInterfaceCommand,
  AttachVolumeCommand,
  CreateNetworkInterfaceCommand,
  CreateSnapshotCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DescribeNetworkInterfacesCommand,
  DescribeSnapshotsCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  DetachNetworkInterfaceCommand,
  DetachVolumeCommand,
  type Filter,
  ModifyInstanceAttributeCommand,
  ModifyNetworkInterfaceAttributeCommand,
  RunInstancesCommand,
  type Volume,
} from '@aws-sdk/client-ec2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createPlanLog } from '../../src/aws/dry-run.ts';
import { dryRunSnapshotId, dryRunVolumeId } from '../../src/aws/ec2-base.ts';
import { Ec2StatefulResources, type Ec2StatefulResourcesOptions } from '../../src/aws/ec2-stateful.ts';
import { UnexpectedResponseError } from '../../src/aws/errors.ts';
import { answeredEc2, type Ec2World, ec2Error, ec2World } from '../support/ec2-world.ts';

/**
 * Two kinds of test: what the adapter does to EC2, against the local cloud (aws-sdk-client-mock
 * calling through records what was sent); and how it reads answers the local cloud cannot give
 * (pages, a snapshot in `error`, a malformed answer), with aws-sdk-client-mock answering.
 */

const workflowTags = { 'spot-handoff:workflow': 'wf-1', 'spot-handoff:managed': 'true' };
/** Ids of the right shape that EC2 does not know. */
const UNKNOWN = {
  volume: 'vol-0123456789abcdef0',
  interface: 'eni-0123456789abcdef0',
  snapshot: 'snap-0123456789abcdef0',
  attachment: 'eni-attach-0123456789abcdef0',
};

/**
 * What the tests start from, made through EC2's API: `oldId` (running, us-east-1a) with a 100 GiB
 * gp3 data volume restored from a snapshot at /dev/sdf and a secondary interface (device 1, tagged
 * managed) whose primary private IP holds an Elastic IP and which has a secondary private IP, both
 * deleted on termination; `newId` (running, same AZ) with its primary interface; a free volume.
 */
interface World {
  oldId: string;
  newId: string;
  availabilityZone: string;
  originSnapshotId: string;
  dataVolumeId: string;
  freeVolumeId: string;
  movingInterfaceId: string;
  movingAttachmentId: string;
  movingPrimaryIp: string;
  movingSecondaryIp: string;
  newInterfaceId: string;
  newPrimaryIp: string;
  allocationId: string;
  publicIp: string;
  associationId: string;
}

let cloud: Ec2World;
let w: World;

async function launch(subnetId: string): Promise<string> {
  const out = await cloud.client.send(
    new RunInstancesCommand({
      LaunchTemplate: { LaunchTemplateId: cloud.launchTemplateId },
      SubnetId: subnetId,
      MinCount: 1,
      MaxCount: 1,
    }),
  );
  return out.Instances![0]!.InstanceId!;
}

async function createVolume(availabilityZone: string, options: { snapshotId?: string; size?: number } = {}) {
  const out = await cloud.client.send(
    new CreateVolumeCommand({
      AvailabilityZone: availabilityZone,
      ...(options.snapshotId ? { SnapshotId: options.snapshotId } : { Size: options.size ?? 8 }),
      VolumeType: 'gp3',
      TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'Name', Value: 'data' }] }],
    }),
  );
  return out.VolumeId!;
}

async function snapshot(volumeId: string, tags: Record<string, string> = {}): Promise<string> {
  const entries = Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
  const out = await cloud.client.send(
    new CreateSnapshotCommand({
      VolumeId: volumeId,
      ...(entries.length > 0 ? { TagSpecifications: [{ ResourceType: 'snapshot', Tags: entries }] } : {}),
    }),
  );
  return out.SnapshotId!;
}

/** Lets EC2's transitions (launch, create, attach, detach, snapshot) finish. */
const finishTransitions = () => cloud.cloud.clock.advance(60_000);

async function startWorld(): Promise<World> {
  const subnet = cloud.subnets[0]!;
  const availabilityZone = subnet.AvailabilityZone!;
  const [oldId, newId] = [await launch(subnet.SubnetId!), await launch(subnet.SubnetId!)];
  const originVolume = await createVolume(availabilityZone, { size: 100 });
  await finishTransitions();
  const originSnapshotId = await snapshot(originVolume);
  await finishTransitions();
  const dataVolumeId = await createVolume(availabilityZone, { snapshotId: originSnapshotId });
  const freeVolumeId = await createVolume(availabilityZone);
  const eni = await cloud.client.send(
    new CreateNetworkInterfaceCommand({
      SubnetId: subnet.SubnetId!,
      SecondaryPrivateIpAddressCount: 1,
      TagSpecifications: [
        { ResourceType: 'network-interface', Tags: [{ Key: 'spot-handoff:managed', Value: 'true' }] },
      ],
    }),
  );
  await finishTransitions();
  const movingInterfaceId = eni.NetworkInterface!.NetworkInterfaceId!;
  const ips = eni.NetworkInterface!.PrivateIpAddresses!;
  await cloud.client.send(
    new AttachVolumeCommand({ VolumeId: dataVolumeId, InstanceId: oldId, Device: '/dev/sdf' }),
  );
  const attached = await cloud.client.send(
    new AttachNetworkInterfaceCommand({
      NetworkInterfaceId: movingInterfaceId,
      InstanceId: oldId,
      DeviceIndex: 1,
    }),
  );
  await finishTransitions();
  await cloud.client.send(
    new ModifyInstanceAttributeCommand({
      InstanceId: oldId,
      BlockDeviceMappings: [{ DeviceName: '/dev/sdf', Ebs: { DeleteOnTermination: true } }],
    }),
  );
  await cloud.client.send(
    new ModifyNetworkInterfaceAttributeCommand({
      NetworkInterfaceId: movingInterfaceId,
      Attachment: { AttachmentId: attached.AttachmentId!, DeleteOnTermination: true },
    }),
  );
  const movingPrimaryIp = ips.find((ip) => ip.Primary)!.PrivateIpAddress!;
  const address = await cloud.client.send(new AllocateAddressCommand({ Domain: 'vpc' }));
  const association = await cloud.client.send(
    new AssociateAddressCommand({
      AllocationId: address.AllocationId!,
      NetworkInterfaceId: movingInterfaceId,
      PrivateIpAddress: movingPrimaryIp,
    }),
  );
  const newInterface = cloud.cloud.ec2.interfaces().find((e) => e.attachment?.instanceId === newId)!;
  return {
    oldId,
    newId,
    availabilityZone,
    originSnapshotId,
    dataVolumeId,
    freeVolumeId,
    movingInterfaceId,
    movingAttachmentId: attached.AttachmentId!,
    movingPrimaryIp,
    movingSecondaryIp: ips.find((ip) => !ip.Primary)!.PrivateIpAddress!,
    newInterfaceId: newInterface.networkInterfaceId,
    newPrimaryIp: newInterface.privateIps.find((ip) => ip.primary)!.address,
    allocationId: address.AllocationId!,
    publicIp: address.PublicIp!,
    associationId: association.AssociationId!,
  };
}

function resources(options: Omit<Ec2StatefulResourcesOptions, 'client'> = {}): Ec2StatefulResources {
  return new Ec2StatefulResources({ client: cloud.client, ...options });
}

/** What EC2 holds, to compare before and after. */
function ec2State(): unknown {
  const view = cloud.cloud.ec2;
  return structuredClone({
    volumes: view.volumes(),
    interfaces: view.interfaces(),
    addresses: view.addresses(),
    snapshots: view.snapshots(),
  });
}

const volumeView = (volumeId: string) => cloud.cloud.ec2.volumes().find((v) => v.volumeId === volumeId);
const interfaceView = (id: string) => cloud.cloud.ec2.interfaces().find((e) => e.networkInterfaceId === id);

describe('Ec2StatefulResources against the local cloud', () => {
  beforeEach(async () => {
    cloud = await ec2World();
    w = await startWorld();
    cloud.sent.resetHistory();
  });
  afterEach(async () => {
    await cloud.stop();
  });

  describe('describeVolumes', () => {
    it('maps what EC2 reports and leaves out a volume EC2 does not know, by filtering on volume-id', async () => {
      // Prepare
      const adapter = resources();

      // Act
      const facts = await adapter.describeVolumes([w.dataVolumeId, UNKNOWN.volume]);

      // Assess
      expect([...facts.keys()]).toEqual([w.dataVolumeId]);
      expect(facts.get(w.dataVolumeId)).toEqual({
        volumeId: w.dataVolumeId,
        state: 'in-use',
        availabilityZone: w.availabilityZone,
        size: 100,
        volumeType: 'gp3',
        snapshotId: w.originSnapshotId,
        attachments: [
          { instanceId: w.oldId, device: '/dev/sdf', state: 'attached', deleteOnTermination: true },
        ],
        tags: { Name: 'data' },
      });
      const [call] = cloud.sent.commandCalls(DescribeVolumesCommand);
      expect(call?.args[0].input.Filters).toEqual([
        { Name: 'volume-id', Values: [w.dataVolumeId, UNKNOWN.volume] },
      ]);
      expect(call?.args[0].input.VolumeIds).toBeUndefined();
    });

    it('makes no call for no ids', async () => {
      const facts = await resources().describeVolumes([]);

      expect(facts.size).toBe(0);
      expect(cloud.sent.calls()).toHaveLength(0);
    });
  });

  describe('describeInterfaces', () => {
    it('maps attachment, private IPs and Elastic IPs, and leaves out an unknown interface', async () => {
      const adapter = resources();

      const facts = await adapter.describeInterfaces([
        w.movingInterfaceId,
        w.newInterfaceId,
        UNKNOWN.interface,
      ]);

      expect([...facts.keys()].sort()).toEqual([w.movingInterfaceId, w.newInterfaceId].sort());
      expect(facts.get(w.movingInterfaceId)).toEqual({
        networkInterfaceId: w.movingInterfaceId,
        status: 'in-use',
        subnetId: cloud.subnets[0]!.SubnetId,
        availabilityZone: w.availabilityZone,
        attachment: {
          attachmentId: w.movingAttachmentId,
          instanceId: w.oldId,
          deviceIndex: 1,
          status: 'attached',
          deleteOnTermination: true,
        },
        privateIps: [
          {
            privateIpAddress: w.movingPrimaryIp,
            primary: true,
            elasticIp: { publicIp: w.publicIp, allocationId: w.allocationId, associationId: w.associationId },
          },
          { privateIpAddress: w.movingSecondaryIp, primary: false },
        ],
        tags: { 'spot-handoff:managed': 'true' },
      });
      // A public IP Amazon assigned has no allocation: it is not an Elastic IP.
      expect(facts.get(w.newInterfaceId)?.privateIps).toEqual([
        { privateIpAddress: w.newPrimaryIp, primary: true },
      ]);
      const [call] = cloud.sent.commandCalls(DescribeNetworkInterfacesCommand);
      expect(call?.args[0].input.Filters).toEqual([
        { Name: 'network-interface-id', Values: [w.movingInterfaceId, w.newInterfaceId, UNKNOWN.interface] },
      ]);
      expect(call?.args[0].input.NetworkInterfaceIds).toBeUndefined();
    });

    it('reports a detached interface without attachment', async () => {
      const created = await cloud.client.send(
        new CreateNetworkInterfaceCommand({ SubnetId: cloud.subnets[0]!.SubnetId! }),
      );
      const free = created.NetworkInterface!.NetworkInterfaceId!;

      const facts = await resources().describeInterfaces([free]);

      expect(facts.get(free)?.status).toBe('available');
      expect(facts.get(free)).not.toHaveProperty('attachment');
    });

    it('makes no call for no ids', async () => {
      expect((await resources().describeInterfaces([])).size).toBe(0);
      expect(cloud.sent.calls()).toHaveLength(0);
    });
  });

  describe('describeSnapshots', () => {
    it('maps the account’s snapshots and leaves out an unknown one, by filtering on snapshot-id', async () => {
      const snapshotId = await snapshot(w.dataVolumeId, { 'spot-handoff:workflow': 'wf-1' });
      await finishTransitions();
      cloud.sent.resetHistory();
      const adapter = resources();

      const facts = await adapter.describeSnapshots([snapshotId, UNKNOWN.snapshot]);

      expect([...facts.values()]).toEqual([
        {
          snapshotId,
          volumeId: w.dataVolumeId,
          state: 'completed',
          tags: { 'spot-handoff:workflow': 'wf-1' },
        },
      ]);
      const [call] = cloud.sent.commandCalls(DescribeSnapshotsCommand);
      expect(call?.args[0].input).toEqual({
        OwnerIds: ['self'],
        Filters: [{ Name: 'snapshot-id', Values: [snapshotId, UNKNOWN.snapshot] }],
      });
    });

    it('makes no call for no ids', async () => {
      expect((await resources().describeSnapshots([])).size).toBe(0);
      expect(cloud.sent.calls()).toHaveLength(0);
    });
  });

  describe('keepOnTermination', () => {
    it('keeps the block devices in one call and each interface attachment, found by its attachment id', async () => {
      // Prepare
      const logs = await createVolume(w.availabilityZone);
      await finishTransitions();
      await cloud.client.send(
        new AttachVolumeCommand({ VolumeId: logs, InstanceId: w.oldId, Device: '/dev/sdg' }),
      );
      await finishTransitions();
      await cloud.client.send(
        new ModifyInstanceAttributeCommand({
          InstanceId: w.oldId,
          BlockDeviceMappings: [{ DeviceName: '/dev/sdg', Ebs: { DeleteOnTermination: true } }],
        }),
      );
      cloud.sent.resetHistory();
      const adapter = resources();

      // Act
      await adapter.keepOnTermination(w.oldId, {
        deviceNames: ['/dev/sdf', '/dev/sdg'],
        attachmentIds: [w.movingAttachmentId],
      });

      // Assess: what EC2 holds afterwards
      expect(volumeView(w.dataVolumeId)?.attachment?.deleteOnTermination).toBe(false);
      expect(volumeView(logs)?.attachment?.deleteOnTermination).toBe(false);
      expect(interfaceView(w.movingInterfaceId)?.attachment?.deleteOnTermination).toBe(false);
      // and how it was asked
      expect(
        cloud.sent.commandCalls(ModifyInstanceAttributeCommand).map((call) => call.args[0].input),
      ).toEqual([
        {
          InstanceId: w.oldId,
          BlockDeviceMappings: [
            { DeviceName: '/dev/sdf', Ebs: { DeleteOnTermination: false } },
            { DeviceName: '/dev/sdg', Ebs: { DeleteOnTermination: false } },
          ],
        },
      ]);
      expect(
        cloud.sent.commandCalls(DescribeNetworkInterfacesCommand).map((call) => call.args[0].input.Filters),
      ).toEqual([[{ Name: 'attachment.attachment-id', Values: [w.movingAttachmentId] }]]);
      expect(
        cloud.sent.commandCalls(ModifyNetworkInterfaceAttributeCommand).map((call) => call.args[0].input),
      ).toEqual([
        {
          NetworkInterfaceId: w.movingInterfaceId,
          Attachment: { AttachmentId: w.movingAttachmentId, DeleteOnTermination: false },
        },
      ]);
    });

    it('skips an attachment EC2 no longer knows', async () => {
      await resources().keepOnTermination(w.oldId, { deviceNames: [], attachmentIds: [UNKNOWN.attachment] });

      expect(cloud.sent.commandCalls(ModifyNetworkInterfaceAttributeCommand)).toHaveLength(0);
    });

    it('makes only the calls it needs, and none for nothing', async () => {
      const adapter = resources();

      await adapter.keepOnTermination(w.oldId, { deviceNames: [], attachmentIds: [] });
      expect(cloud.sent.calls()).toHaveLength(0);

      await adapter.keepOnTermination(w.oldId, { deviceNames: ['/dev/sdf'], attachmentIds: [] });
      expect(cloud.sent.commandCalls(ModifyInstanceAttributeCommand)).toHaveLength(1);
      expect(cloud.sent.commandCalls(DescribeNetworkInterfacesCommand)).toHaveLength(0);

      cloud.sent.resetHistory();
      await adapter.keepOnTermination(w.oldId, { deviceNames: [], attachmentIds: [w.movingAttachmentId] });
      expect(cloud.sent.commandCalls(ModifyInstanceAttributeCommand)).toHaveLength(0);
      expect(cloud.sent.commandCalls(ModifyNetworkInterfaceAttributeCommand)).toHaveLength(1);
    });
  });

  describe('tag', () => {
    it('tags every resource, leaving out reserved aws: keys', async () => {
      await resources().tag([w.dataVolumeId, w.movingInterfaceId], {
        'spot-handoff:workflow': 'wf-1',
        'aws:reserved': 'x',
      });

      expect(volumeView(w.dataVolumeId)?.tags).toMatchObject({ 'spot-handoff:workflow': 'wf-1' });
      expect(interfaceView(w.movingInterfaceId)?.tags).toMatchObject({ 'spot-handoff:workflow': 'wf-1' });
      expect(cloud.sent.commandCalls(CreateTagsCommand)[0]?.args[0].input.Tags).toEqual([
        { Key: 'spot-handoff:workflow', Value: 'wf-1' },
      ]);
    });

    it('makes no call with nothing to tag or no tags to set', async () => {
      const adapter = resources();

      await adapter.tag([], { k: 'v' });
      await adapter.tag([w.dataVolumeId], {});
      await adapter.tag([w.dataVolumeId], { 'aws:only': 'reserved' });

      expect(cloud.sent.calls()).toHaveLength(0);
    });
  });

  describe('attachVolume', () => {
    it('attaches the volume to the instance at the device', async () => {
      await resources().attachVolume(w.freeVolumeId, w.newId, '/dev/sdf');

      expect(volumeView(w.freeVolumeId)?.attachment).toMatchObject({
        instanceId: w.newId,
        device: '/dev/sdf',
        state: 'attaching',
      });
      expect(cloud.sent.commandCalls(AttachVolumeCommand)[0]?.args[0].input).toEqual({
        VolumeId: w.freeVolumeId,
        InstanceId: w.newId,
        Device: '/dev/sdf',
      });
    });

    it('treats a repeat as success: the volume is already attaching there', async () => {
      const adapter = resources();
      await adapter.attachVolume(w.freeVolumeId, w.newId, '/dev/sdf');

      await adapter.attachVolume(w.freeVolumeId, w.newId, '/dev/sdf');

      expect(volumeView(w.freeVolumeId)?.attachment).toMatchObject({
        instanceId: w.newId,
        device: '/dev/sdf',
      });
      expect(cloud.sent.commandCalls(DescribeVolumesCommand)).toHaveLength(1);
    });

    it('rethrows when the volume is attached to another instance', async () => {
      await expect(resources().attachVolume(w.dataVolumeId, w.newId, '/dev/sdf')).rejects.toMatchObject({
        name: 'VolumeInUse',
      });
      expect(volumeView(w.dataVolumeId)?.attachment?.instanceId).toBe(w.oldId);
    });

    it('rethrows when the volume is attached to that instance at another device', async () => {
      await expect(resources().attachVolume(w.dataVolumeId, w.oldId, '/dev/sdh')).rejects.toMatchObject({
        name: 'VolumeInUse',
      });
    });

    it('rethrows an error that is no conflict without looking', async () => {
      await expect(resources().attachVolume(UNKNOWN.volume, w.newId, '/dev/sdf')).rejects.toMatchObject({
        name: 'InvalidVolume.NotFound',
      });
      expect(cloud.sent.commandCalls(DescribeVolumesCommand)).toHaveLength(0);
    });
  });

  describe('detachVolume', () => {
    it('detaches the volume from that instance', async () => {
      await resources().detachVolume(w.dataVolumeId, w.oldId);

      expect(volumeView(w.dataVolumeId)?.attachment?.state).toBe('detaching');
      expect(cloud.sent.commandCalls(DetachVolumeCommand)[0]?.args[0].input).toEqual({
        VolumeId: w.dataVolumeId,
        InstanceId: w.oldId,
      });
    });

    it('treats a repeat as success, while detaching and once available', async () => {
      const adapter = resources();
      await adapter.detachVolume(w.dataVolumeId, w.oldId);

      await adapter.detachVolume(w.dataVolumeId, w.oldId);
      await finishTransitions();
      await adapter.detachVolume(w.dataVolumeId, w.oldId);

      expect(volumeView(w.dataVolumeId)?.state).toBe('available');
      expect(cloud.sent.commandCalls(DetachVolumeCommand)).toHaveLength(3);
    });

    it('treats a volume attached to another instance as detached from this one', async () => {
      await resources().detachVolume(w.dataVolumeId, w.newId);

      expect(volumeView(w.dataVolumeId)?.attachment).toMatchObject({
        instanceId: w.oldId,
        state: 'attached',
      });
    });
  });

  describe('attachInterface', () => {
    it('attaches the interface at the device index', async () => {
      await resources().detachInterface(w.movingAttachmentId);
      await finishTransitions();

      await resources().attachInterface(w.movingInterfaceId, w.newId, 1);

      expect(interfaceView(w.movingInterfaceId)?.attachment).toMatchObject({
        instanceId: w.newId,
        deviceIndex: 1,
      });
      expect(cloud.sent.commandCalls(AttachNetworkInterfaceCommand)[0]?.args[0].input).toEqual({
        NetworkInterfaceId: w.movingInterfaceId,
        InstanceId: w.newId,
        DeviceIndex: 1,
      });
    });

    it('treats a repeat as success: the interface is already on that instance', async () => {
      await resources().attachInterface(w.movingInterfaceId, w.oldId, 1);

      expect(interfaceView(w.movingInterfaceId)?.attachment?.attachmentId).toBe(w.movingAttachmentId);
    });

    it('rethrows when the interface is attached to another instance', async () => {
      await expect(resources().attachInterface(w.movingInterfaceId, w.newId, 1)).rejects.toMatchObject({
        name: 'InvalidNetworkInterface.InUse',
      });
    });

    it('rethrows when another interface holds the device index', async () => {
      await resources().detachInterface(w.movingAttachmentId);
      await finishTransitions();

      await expect(resources().attachInterface(w.movingInterfaceId, w.newId, 0)).rejects.toMatchObject({
        name: 'InvalidParameterValue',
      });
    });
  });

  describe('detachInterface', () => {
    it('detaches without force, and an attachment already gone is success', async () => {
      const adapter = resources();

      await adapter.detachInterface(w.movingAttachmentId);
      await finishTransitions();
      await adapter.detachInterface(w.movingAttachmentId);

      expect(interfaceView(w.movingInterfaceId)?.attachment).toBeUndefined();
      expect(
        cloud.sent.commandCalls(DetachNetworkInterfaceCommand).map((call) => call.args[0].input),
      ).toEqual([
        { AttachmentId: w.movingAttachmentId, Force: false },
        { AttachmentId: w.movingAttachmentId, Force: false },
      ]);
    });
  });

  describe('movePrivateIps', () => {
    it('moves the IPs from wherever they are, once each', async () => {
      await resources().movePrivateIps(w.newInterfaceId, [w.movingSecondaryIp, w.movingSecondaryIp]);

      const ipsOf = (id: string) => interfaceView(id)?.privateIps.map((ip) => ip.address);
      expect(ipsOf(w.newInterfaceId)).toEqual([w.newPrimaryIp, w.movingSecondaryIp]);
      expect(ipsOf(w.movingInterfaceId)).toEqual([w.movingPrimaryIp]);
      expect(cloud.sent.commandCalls(AssignPrivateIpAddressesCommand)[0]?.args[0].input).toEqual({
        NetworkInterfaceId: w.newInterfaceId,
        PrivateIpAddresses: [w.movingSecondaryIp],
        AllowReassignment: true,
      });
    });

    it('makes no call for no IPs', async () => {
      await resources().movePrivateIps(w.newInterfaceId, []);

      expect(cloud.sent.calls()).toHaveLength(0);
    });
  });

  describe('moveElasticIp', () => {
    it('reassociates the Elastic IP with the interface and private IP, again without harm', async () => {
      const adapter = resources();

      await adapter.moveElasticIp(w.allocationId, w.newInterfaceId, w.newPrimaryIp);
      await adapter.moveElasticIp(w.allocationId, w.newInterfaceId, w.newPrimaryIp);

      expect(cloud.cloud.ec2.addresses().find((a) => a.allocationId === w.allocationId)).toMatchObject({
        networkInterfaceId: w.newInterfaceId,
        privateIpAddress: w.newPrimaryIp,
      });
      expect(cloud.sent.commandCalls(AssociateAddressCommand)[0]?.args[0].input).toEqual({
        AllocationId: w.allocationId,
        NetworkInterfaceId: w.newInterfaceId,
        PrivateIpAddress: w.newPrimaryIp,
        AllowReassociation: true,
      });
    });
  });

  describe('snapshotFor', () => {
    const snapshotsOf = (volumeId: string) =>
      cloud.cloud.ec2.snapshots().filter((s) => s.volumeId === volumeId);

    it('creates a snapshot tagged for the workflow when there is none', async () => {
      const created = await resources().snapshotFor(w.dataVolumeId, workflowTags);

      expect(created).toEqual({
        snapshotId: expect.stringMatching(/^snap-/),
        volumeId: w.dataVolumeId,
        state: 'pending',
        tags: workflowTags,
      });
      expect(snapshotsOf(w.dataVolumeId).map((s) => [s.snapshotId, s.tags])).toEqual([
        [created.snapshotId, workflowTags],
      ]);
      expect(cloud.sent.commandCalls(DescribeSnapshotsCommand)[0]?.args[0].input).toEqual({
        OwnerIds: ['self'],
        Filters: [
          { Name: 'volume-id', Values: [w.dataVolumeId] },
          { Name: 'tag:spot-handoff:workflow', Values: ['wf-1'] },
        ],
      });
    });

    it('returns the snapshot of the first attempt instead of creating a second', async () => {
      const adapter = resources();
      const first = await adapter.snapshotFor(w.dataVolumeId, workflowTags);

      const second = await adapter.snapshotFor(w.dataVolumeId, workflowTags);

      expect(second).toEqual(first);
      expect(snapshotsOf(w.dataVolumeId)).toHaveLength(1);
      expect(cloud.sent.commandCalls(CreateSnapshotCommand)).toHaveLength(1);
    });

    it('passes over another workflow’s snapshot', async () => {
      const other = await snapshot(w.dataVolumeId, { 'spot-handoff:workflow': 'wf-0' });
      await finishTransitions();
      cloud.sent.resetHistory();

      const created = await resources().snapshotFor(w.dataVolumeId, workflowTags);

      expect(created.snapshotId).not.toBe(other);
      expect(cloud.sent.commandCalls(CreateSnapshotCommand)).toHaveLength(1);
    });

    it('prefers a completed snapshot of the workflow', async () => {
      const done = await snapshot(w.dataVolumeId, { 'spot-handoff:workflow': 'wf-1' });
      await finishTransitions();
      await snapshot(w.dataVolumeId, { 'spot-handoff:workflow': 'wf-1' });

      const found = await resources().snapshotFor(w.dataVolumeId, workflowTags);

      expect(found.snapshotId).toBe(done);
    });
  });

  describe('restoreVolume', () => {
    const restore = () => ({
      snapshotId: w.originSnapshotId,
      availabilityZone: 'us-east-1b',
      volumeType: 'gp3',
      clientToken: 'wf-1-vol-data',
      tags: workflowTags,
    });

    it('creates the volume from the snapshot in the zone, with the token and tags', async () => {
      const volume = await resources().restoreVolume(restore());

      expect(volume).toEqual({
        volumeId: expect.stringMatching(/^vol-/),
        state: 'creating',
        availabilityZone: 'us-east-1b',
        size: 100,
        volumeType: 'gp3',
        snapshotId: w.originSnapshotId,
        attachments: [],
        tags: workflowTags,
      });
      expect(cloud.sent.commandCalls(CreateVolumeCommand)[0]?.args[0].input).toEqual({
        SnapshotId: w.originSnapshotId,
        AvailabilityZone: 'us-east-1b',
        VolumeType: 'gp3',
        ClientToken: 'wf-1-vol-data',
        TagSpecifications: [
          {
            ResourceType: 'volume',
            Tags: [
              { Key: 'spot-handoff:workflow', Value: 'wf-1' },
              { Key: 'spot-handoff:managed', Value: 'true' },
            ],
          },
        ],
      });
    });

    it('returns the same volume when retried with the same token', async () => {
      const adapter = resources();
      const before = cloud.cloud.ec2.volumes().length;

      const first = await adapter.restoreVolume(restore());
      const second = await adapter.restoreVolume(restore());

      expect(second.volumeId).toBe(first.volumeId);
      expect(cloud.cloud.ec2.volumes()).toHaveLength(before + 1);
    });

    it('sends no volume type the request does not set', async () => {
      const { volumeType: _unset, ...withoutType } = restore();

      await resources().restoreVolume(withoutType);

      expect(cloud.sent.commandCalls(CreateVolumeCommand)[0]?.args[0].input).not.toHaveProperty('VolumeType');
    });
  });

  describe('in a dry run', () => {
    const mutations = [
      AssociateAddressCommand,
      AttachNetworkInterfaceCommand,
      AttachVolumeCommand,
      CreateSnapshotCommand,
      CreateTagsCommand,
      CreateVolumeCommand,
      DetachNetworkInterfaceCommand,
      DetachVolumeCommand,
      ModifyInstanceAttributeCommand,
      ModifyNetworkInterfaceAttributeCommand,
    ] as const;

    it.each([
      [
        'keepOnTermination',
        ['ModifyInstanceAttribute', 'ModifyNetworkInterfaceAttribute'],
        (r: Ec2StatefulResources) =>
          r.keepOnTermination(w.oldId, { deviceNames: ['/dev/sdf'], attachmentIds: [w.movingAttachmentId] }),
      ],
      ['tag', ['CreateTags'], (r: Ec2StatefulResources) => r.tag([w.dataVolumeId], { k: 'v' })],
      [
        'attachVolume',
        ['AttachVolume'],
        (r: Ec2StatefulResources) => r.attachVolume(w.freeVolumeId, w.newId, '/dev/sdf'),
      ],
      [
        'detachVolume',
        ['DetachVolume'],
        (r: Ec2StatefulResources) => r.detachVolume(w.dataVolumeId, w.oldId),
      ],
      [
        'attachInterface',
        ['AttachNetworkInterface'],
        (r: Ec2StatefulResources) => r.attachInterface(w.movingInterfaceId, w.newId, 1),
      ],
      [
        'detachInterface',
        ['DetachNetworkInterface'],
        (r: Ec2StatefulResources) => r.detachInterface(w.movingAttachmentId),
      ],
      [
        'moveElasticIp',
        ['AssociateAddress'],
        (r: Ec2StatefulResources) => r.moveElasticIp(w.allocationId, w.newInterfaceId, w.newPrimaryIp),
      ],
    ] as const)('%s asks EC2 with DryRun, changes nothing and plans %j', async (name, actions, act) => {
      // Prepare
      const plan = createPlanLog();
      if (name === 'attachInterface') {
        await resources().detachInterface(w.movingAttachmentId);
        await finishTransitions();
        cloud.sent.resetHistory();
      }
      const before = ec2State();

      // Act
      await act(resources({ dryRun: true, plan }));

      // Assess
      expect(ec2State()).toEqual(before);
      expect(plan.entries().map((entry) => entry.action)).toEqual(actions);
      expect(
        plan.entries().every((entry) => entry.outcome === 'would-succeed' && entry.service === 'ec2'),
      ).toBe(true);
      const sent = cloud.sent.calls().map((call) => call.args[0]);
      const mutating = sent.filter((command) => mutations.some((type) => command instanceof type));
      expect(mutating).toHaveLength(actions.length);
      for (const command of mutating) expect(command.input).toMatchObject({ DryRun: true });
    });

    it('plans the request as it would be sent, without DryRun', async () => {
      const plan = createPlanLog();

      await resources({ dryRun: true, plan }).moveElasticIp(w.allocationId, w.newInterfaceId, w.newPrimaryIp);

      expect(plan.entries()).toEqual([
        {
          service: 'ec2',
          action: 'AssociateAddress',
          params: {
            AllocationId: w.allocationId,
            NetworkInterfaceId: w.newInterfaceId,
            PrivateIpAddress: w.newPrimaryIp,
            AllowReassociation: true,
          },
          outcome: 'would-succeed',
        },
      ]);
    });

    it('does not send AssignPrivateIpAddresses, which has no DryRun, and plans it as skipped', async () => {
      const plan = createPlanLog();
      const before = ec2State();

      await resources({ dryRun: true, plan }).movePrivateIps(w.newInterfaceId, [w.movingSecondaryIp]);

      expect(ec2State()).toEqual(before);
      expect(cloud.sent.commandCalls(AssignPrivateIpAddressesCommand)).toHaveLength(0);
      expect(plan.entries()).toEqual([
        {
          service: 'ec2',
          action: 'AssignPrivateIpAddresses',
          params: {
            NetworkInterfaceId: w.newInterfaceId,
            PrivateIpAddresses: [w.movingSecondaryIp],
            AllowReassignment: true,
          },
          outcome: 'skipped',
        },
      ]);
    });

    it('plans a snapshot under a clearly fake id derived from the volume and tags', async () => {
      const plan = createPlanLog();
      const before = cloud.cloud.ec2.snapshots().length;

      const planned = await resources({ dryRun: true, plan }).snapshotFor(w.dataVolumeId, workflowTags);

      expect(planned).toEqual({
        snapshotId: dryRunSnapshotId(w.dataVolumeId, workflowTags),
        volumeId: w.dataVolumeId,
        state: 'pending',
        tags: workflowTags,
      });
      expect(planned.snapshotId).toMatch(/^snap-dryrun[0-9a-f]{9}$/);
      expect(cloud.cloud.ec2.snapshots()).toHaveLength(before);
      expect(
        cloud.sent.commandCalls(CreateSnapshotCommand, { DryRun: true, VolumeId: w.dataVolumeId }),
      ).toHaveLength(1);
      expect(plan.entries().map((entry) => entry.action)).toEqual(['CreateSnapshot']);
    });

    it('returns a snapshot that already exists without planning another', async () => {
      const existing = await resources().snapshotFor(w.dataVolumeId, workflowTags);
      const plan = createPlanLog();

      const found = await resources({ dryRun: true, plan }).snapshotFor(w.dataVolumeId, workflowTags);

      expect(found).toEqual(existing);
      expect(plan.entries()).toEqual([]);
    });

    it('plans a restored volume under a clearly fake id derived from the token', async () => {
      const plan = createPlanLog();
      const before = ec2State();

      const volume = await resources({ dryRun: true, plan }).restoreVolume({
        snapshotId: w.originSnapshotId,
        availabilityZone: 'us-east-1b',
        clientToken: 'wf-1-vol-data',
        tags: workflowTags,
      });

      expect(volume).toMatchObject({
        volumeId: dryRunVolumeId('wf-1-vol-data'),
        state: 'creating',
        availabilityZone: 'us-east-1b',
        snapshotId: w.originSnapshotId,
        attachments: [],
        tags: workflowTags,
      });
      expect(volume.volumeId).toMatch(/^vol-dryrun[0-9a-f]{9}$/);
      expect(ec2State()).toEqual(before);
      expect(
        cloud.sent.commandCalls(CreateVolumeCommand, { DryRun: true, ClientToken: 'wf-1-vol-data' }),
      ).toHaveLength(1);
      expect(plan.entries().map((entry) => entry.action)).toEqual(['CreateVolume']);
    });

    it('throws when EC2 says the call would fail, and plans nothing', async () => {
      cloud.cloud.injectFault('AssociateAddress', 'InvalidParameterValue');
      const plan = createPlanLog();

      await expect(
        resources({ dryRun: true, plan }).moveElasticIp(w.allocationId, w.newInterfaceId, w.newPrimaryIp),
      ).rejects.toMatchObject({ name: 'InvalidParameterValue' });
      expect(plan.entries()).toEqual([]);
    });

    it('still treats a call that already took effect as success', async () => {
      // EC2 validates the request before the permission check that answers DryRunOperation.
      const plan = createPlanLog();

      await resources({ dryRun: true, plan }).detachInterface(UNKNOWN.attachment);

      expect(plan.entries()).toEqual([]);
    });

    it('reads for real', async () => {
      const facts = await resources({ dryRun: true, plan: createPlanLog() }).describeVolumes([
        w.dataVolumeId,
      ]);

      expect(facts.get(w.dataVolumeId)?.state).toBe('in-use');
    });
  });
});

describe('Ec2StatefulResources against answers given', () => {
  const ec2 = answeredEc2();

  const answered = (options: Omit<Ec2StatefulResourcesOptions, 'client'> = {}) =>
    new Ec2StatefulResources({ client: ec2.client, ...options });

  function availableVolume(volumeId: string): Volume {
    return {
      VolumeId: volumeId,
      State: 'available',
      AvailabilityZone: 'us-east-1a',
      Size: 8,
      Attachments: [],
    };
  }

  it('describes 200 volume ids per call (the filter limit) and follows every page', async () => {
    // Prepare: 450 volumes asked for (one twice), EC2 answering each filter 7 to a page
    const ids = Array.from({ length: 450 }, (_, n) => `vol-${n.toString(16).padStart(17, '0')}`);
    ec2.mock.on(DescribeVolumesCommand).callsFake((input: { Filters?: Filter[]; NextToken?: string }) => {
      const asked = input.Filters?.[0]?.Values ?? [];
      const start = Number(input.NextToken ?? '0');
      const end = Math.min(start + 7, asked.length);
      return {
        Volumes: asked.slice(start, end).map(availableVolume),
        NextToken: end < asked.length ? String(end) : undefined,
      };
    });

    // Act
    const facts = await answered().describeVolumes([...ids, ids[0]!]);

    // Assess
    expect(facts.size).toBe(450);
    const inputs = ec2.mock.commandCalls(DescribeVolumesCommand).map((call) => call.args[0].input);
    const firstPages = inputs.filter((input) => input.NextToken === undefined);
    expect(firstPages.map((input) => input.Filters?.[0]?.Values?.length ?? 0).sort((a, b) => b - a)).toEqual([
      200, 200, 50,
    ]);
  });

  it('fails loudly on a volume reported without a state', async () => {
    ec2.mock
      .on(DescribeVolumesCommand)
      .resolves({ Volumes: [{ ...availableVolume('vol-odd'), State: undefined }] });

    await expect(answered().describeVolumes(['vol-odd'])).rejects.toBeInstanceOf(UnexpectedResponseError);
  });

  it('tags 1000 resources per call, every resource once', async () => {
    ec2.mock.on(CreateTagsCommand).resolves({});
    const ids = Array.from({ length: 2500 }, (_, n) => `vol-${n.toString(16).padStart(17, '0')}`);

    await answered().tag(ids, { k: 'v' });

    const batches = ec2.mock.commandCalls(CreateTagsCommand).map((call) => call.args[0].input);
    expect(batches.map((input) => input.Resources?.length).sort((a, b) => (b ?? 0) - (a ?? 0))).toEqual([
      1000, 1000, 500,
    ]);
    expect(batches.flatMap((input) => input.Resources).sort()).toEqual([...ids].sort());
    expect(batches.every((input) => input.Tags?.[0]?.Key === 'k')).toBe(true);
  });

  it('rethrows IncorrectState from DetachVolume while the volume is still attaching to that instance', async () => {
    ec2.mock.on(DetachVolumeCommand).rejects(ec2Error('IncorrectState'));
    ec2.mock.on(DescribeVolumesCommand).resolves({
      Volumes: [
        {
          ...availableVolume('vol-data'),
          State: 'in-use',
          Attachments: [
            { InstanceId: 'i-old', Device: '/dev/sdf', State: 'attaching', DeleteOnTermination: false },
          ],
        },
      ],
    });

    await expect(answered().detachVolume('vol-data', 'i-old')).rejects.toMatchObject({
      name: 'IncorrectState',
    });
  });

  it('passes over a snapshot in error and asks EC2 for the account’s own snapshots of the workflow', async () => {
    ec2.mock.on(DescribeSnapshotsCommand).resolves({
      Snapshots: [{ SnapshotId: 'snap-failed', VolumeId: 'vol-data', State: 'error', Tags: [] }],
    });
    ec2.mock
      .on(CreateSnapshotCommand)
      .resolves({ SnapshotId: 'snap-new', VolumeId: 'vol-data', State: 'pending' });

    const created = await answered().snapshotFor('vol-data', workflowTags);

    expect(created.snapshotId).not.toBe('snap-failed');
    expect(ec2.mock.commandCalls(CreateSnapshotCommand)).toHaveLength(1);
    // Another account's and another workflow's snapshots are left out by EC2, as asked.
    expect(ec2.mock.commandCalls(DescribeSnapshotsCommand)[0]?.args[0].input).toMatchObject({
      OwnerIds: ['self'],
      Filters: expect.arrayContaining([{ Name: 'tag:spot-handoff:workflow', Values: ['wf-1'] }]),
    });
  });

  it('lists the subnets of the VPC across pages', async () => {
    const pages = [
      {
        Subnets: [{ SubnetId: 'subnet-0', VpcId: 'vpc-1', AvailabilityZone: 'us-east-1a' }],
        NextToken: 'p2',
      },
      {
        Subnets: [
          { SubnetId: 'subnet-1', VpcId: 'vpc-1', AvailabilityZone: 'us-east-1b' },
          { SubnetId: 'subnet-2', VpcId: 'vpc-1', AvailabilityZone: 'us-east-1c' },
        ],
      },
    ];
    ec2.mock
      .on(DescribeSubnetsCommand)
      .callsFake((input: { NextToken?: string }) => pages[input.NextToken === 'p2' ? 1 : 0]);

    const subnets = await answered().subnetsOf('vpc-1');

    expect(subnets).toEqual([
      { subnetId: 'subnet-0', vpcId: 'vpc-1', availabilityZone: 'us-east-1a' },
      { subnetId: 'subnet-1', vpcId: 'vpc-1', availabilityZone: 'us-east-1b' },
      { subnetId: 'subnet-2', vpcId: 'vpc-1', availabilityZone: 'us-east-1c' },
    ]);
    expect(ec2.mock.commandCalls(DescribeSubnetsCommand).map((call) => call.args[0].input.Filters)).toEqual([
      [{ Name: 'vpc-id', Values: ['vpc-1'] }],
      [{ Name: 'vpc-id', Values: ['vpc-1'] }],
    ]);
  });

  it('throws in a dry run when the endpoint ignores DryRun and acts', async () => {
    ec2.mock.on(DetachNetworkInterfaceCommand).resolves({});

    await expect(
      answered({ dryRun: true, plan: createPlanLog() }).detachInterface('eni-attach-1'),
    ).rejects.toBeInstanceOf(UnexpectedResponseError);
  });

  it('passes the abort signal to every call', async () => {
    ec2.mock.on(DescribeVolumesCommand).resolves({ Volumes: [availableVolume('vol-free')] });
    ec2.mock.on(AttachVolumeCommand).resolves({});
    const abortSignal = new AbortController().signal;
    const adapter = answered({ abortSignal });

    await adapter.describeVolumes(['vol-free']);
    await adapter.attachVolume('vol-free', 'i-new', '/dev/sdf');

    for (const call of ec2.mock.calls()) {
      const options: unknown = (call.args as unknown[])[1];
      expect(options).toEqual({ abortSignal });
    }
    expect(ec2.mock.calls()).toHaveLength(2);
  });
});
