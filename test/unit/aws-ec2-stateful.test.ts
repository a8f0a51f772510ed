import {
  type Address,
  AssignPrivateIpAddressesCommand,
  type AssignPrivateIpAddressesCommandInput,
  AssociateAddressCommand,
  type AssociateAddressCommandInput,
  AttachNetworkInterfaceCommand,
  type AttachNetworkInterfaceCommandInput,
  AttachVolumeCommand,
  type AttachVolumeCommandInput,
  CreateSnapshotCommand,
  type CreateSnapshotCommandInput,
  CreateTagsCommand,
  type CreateTagsCommandInput,
  CreateVolumeCommand,
  type CreateVolumeCommandInput,
  DescribeNetworkInterfacesCommand,
  type DescribeNetworkInterfacesCommandInput,
  DescribeSnapshotsCommand,
  type DescribeSnapshotsCommandInput,
  DescribeSubnetsCommand,
  type DescribeSubnetsCommandInput,
  DescribeVolumesCommand,
  type DescribeVolumesCommandInput,
  DetachNetworkInterfaceCommand,
  type DetachNetworkInterfaceCommandInput,
  DetachVolumeCommand,
  type DetachVolumeCommandInput,
  EC2Client,
  EC2ServiceException,
  type Filter,
  ModifyInstanceAttributeCommand,
  type ModifyInstanceAttributeCommandInput,
  ModifyNetworkInterfaceAttributeCommand,
  type ModifyNetworkInterfaceAttributeCommandInput,
  type NetworkInterface,
  type Snapshot,
  type Subnet,
  type Tag,
  type Volume,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createPlanLog } from '../../src/aws/dry-run.ts';
import { dryRunSnapshotId, dryRunVolumeId } from '../../src/aws/ec2-base.ts';
import { Ec2StatefulResources, type Ec2StatefulResourcesOptions } from '../../src/aws/ec2-stateful.ts';
import { UnexpectedResponseError } from '../../src/aws/errors.ts';

const ec2Mock = mockClient(EC2Client);
const ACCOUNT = '123456789012';

/** An error as the SDK throws it for an EC2 error code (EC2 errors are unmodelled: `name` is the code). */
function ec2Error(code: string, message = `${code} (test)`): EC2ServiceException {
  return new EC2ServiceException({
    name: code,
    $fault: 'client',
    $metadata: { httpStatusCode: 400 },
    message,
  });
}

/** The values a filter name selects on a resource, or undefined for a filter EC2 would not know. */
type FilterFields<T> = (resource: T, name: string) => (string | undefined)[] | undefined;

/**
 * A small stateful EC2 for volumes, interfaces, addresses, snapshots and subnets: the 200-values
 * filter limit, pagination, id parameters that fail on unknown ids, the refusals EC2 answers when a
 * call already took effect, CreateVolume ClientToken idempotency, and DryRun.
 */
class FakeEc2Api {
  readonly volumes = new Map<string, Volume>();
  readonly interfaces = new Map<string, NetworkInterface>();
  readonly addresses = new Map<string, Address>();
  readonly snapshots = new Map<string, Snapshot>();
  readonly subnets: Subnet[] = [];
  readonly volumeByToken = new Map<string, string>();
  pageSize = 1000;
  dryRunAllowed = true;
  /** An endpoint that ignores DryRun (acts for real): the adapter must notice. */
  ignoresDryRun = false;
  #next = 0;

  constructor() {
    ec2Mock
      .on(DescribeVolumesCommand)
      .callsFake((input: DescribeVolumesCommandInput) => this.describeVolumes(input));
    ec2Mock
      .on(DescribeNetworkInterfacesCommand)
      .callsFake((input: DescribeNetworkInterfacesCommandInput) => this.describeInterfaces(input));
    ec2Mock
      .on(DescribeSnapshotsCommand)
      .callsFake((input: DescribeSnapshotsCommandInput) => this.describeSnapshots(input));
    ec2Mock
      .on(DescribeSubnetsCommand)
      .callsFake((input: DescribeSubnetsCommandInput) => this.describeSubnets(input));
    ec2Mock.on(AttachVolumeCommand).callsFake((input: AttachVolumeCommandInput) => this.attachVolume(input));
    ec2Mock.on(DetachVolumeCommand).callsFake((input: DetachVolumeCommandInput) => this.detachVolume(input));
    ec2Mock
      .on(AttachNetworkInterfaceCommand)
      .callsFake((input: AttachNetworkInterfaceCommandInput) => this.attachInterface(input));
    ec2Mock
      .on(DetachNetworkInterfaceCommand)
      .callsFake((input: DetachNetworkInterfaceCommandInput) => this.detachInterface(input));
    ec2Mock
      .on(ModifyInstanceAttributeCommand)
      .callsFake((input: ModifyInstanceAttributeCommandInput) => this.modifyInstance(input));
    ec2Mock
      .on(ModifyNetworkInterfaceAttributeCommand)
      .callsFake((input: ModifyNetworkInterfaceAttributeCommandInput) => this.modifyInterface(input));
    ec2Mock.on(CreateTagsCommand).callsFake((input: CreateTagsCommandInput) => this.createTags(input));
    ec2Mock
      .on(AssignPrivateIpAddressesCommand)
      .callsFake((input: AssignPrivateIpAddressesCommandInput) => this.assignPrivateIps(input));
    ec2Mock
      .on(AssociateAddressCommand)
      .callsFake((input: AssociateAddressCommandInput) => this.associateAddress(input));
    ec2Mock
      .on(CreateSnapshotCommand)
      .callsFake((input: CreateSnapshotCommandInput) => this.createSnapshot(input));
    ec2Mock.on(CreateVolumeCommand).callsFake((input: CreateVolumeCommandInput) => this.createVolume(input));
  }

  addVolume(volume: Volume): void {
    this.volumes.set(volume.VolumeId!, volume);
  }

  addInterface(networkInterface: NetworkInterface): void {
    this.interfaces.set(networkInterface.NetworkInterfaceId!, networkInterface);
  }

  addSnapshot(snapshot: Snapshot): void {
    this.snapshots.set(snapshot.SnapshotId!, snapshot);
  }

  /** Everything the fake holds, to compare before and after. */
  state(): unknown {
    return structuredClone({
      volumes: [...this.volumes.values()],
      interfaces: [...this.interfaces.values()],
      addresses: [...this.addresses.values()],
      snapshots: [...this.snapshots.values()],
    });
  }

  describeVolumes(input: DescribeVolumesCommandInput) {
    const known = this.#byIds(this.volumes, input.VolumeIds, 'InvalidVolume.NotFound');
    const fields: FilterFields<Volume> = (volume, name) =>
      name === 'volume-id' ? [volume.VolumeId] : undefined;
    const { page, nextToken } = this.#page(
      select(known, input.Filters, fields, (v) => v.Tags),
      input.NextToken,
    );
    return { Volumes: page, NextToken: nextToken };
  }

  describeInterfaces(input: DescribeNetworkInterfacesCommandInput) {
    const known = this.#byIds(
      this.interfaces,
      input.NetworkInterfaceIds,
      'InvalidNetworkInterfaceID.NotFound',
    );
    const fields: FilterFields<NetworkInterface> = (eni, name) => {
      if (name === 'network-interface-id') return [eni.NetworkInterfaceId];
      if (name === 'attachment.attachment-id') return [eni.Attachment?.AttachmentId];
      return undefined;
    };
    const { page, nextToken } = this.#page(
      select(known, input.Filters, fields, (n) => n.TagSet),
      input.NextToken,
    );
    return { NetworkInterfaces: page, NextToken: nextToken };
  }

  describeSnapshots(input: DescribeSnapshotsCommandInput) {
    const known = this.#byIds(this.snapshots, input.SnapshotIds, 'InvalidSnapshot.NotFound').filter(
      (snapshot) => !input.OwnerIds?.includes('self') || snapshot.OwnerId === ACCOUNT,
    );
    const fields: FilterFields<Snapshot> = (snapshot, name) => {
      if (name === 'snapshot-id') return [snapshot.SnapshotId];
      if (name === 'volume-id') return [snapshot.VolumeId];
      return undefined;
    };
    const { page, nextToken } = this.#page(
      select(known, input.Filters, fields, (s) => s.Tags),
      input.NextToken,
    );
    return { Snapshots: page, NextToken: nextToken };
  }

  describeSubnets(input: DescribeSubnetsCommandInput) {
    const fields: FilterFields<Subnet> = (subnet, name) => (name === 'vpc-id' ? [subnet.VpcId] : undefined);
    const { page, nextToken } = this.#page(
      select(this.subnets, input.Filters, fields, (s) => s.Tags),
      input.NextToken,
    );
    return { Subnets: page, NextToken: nextToken };
  }

  attachVolume(input: AttachVolumeCommandInput) {
    this.#dryRun(input);
    const volume = this.#volume(input.VolumeId);
    if (volume.State === 'in-use') throw ec2Error('VolumeInUse', `${volume.VolumeId} is already attached`);
    if (volume.State !== 'available') throw ec2Error('IncorrectState');
    const deviceTaken = [...this.volumes.values()].some((other) =>
      other.Attachments?.some((a) => a.InstanceId === input.InstanceId && a.Device === input.Device),
    );
    if (deviceTaken)
      throw ec2Error('InvalidParameterValue', `Attachment point ${input.Device} is already in use`);
    const attachment = {
      VolumeId: volume.VolumeId,
      InstanceId: input.InstanceId,
      Device: input.Device,
      State: 'attaching' as const,
      DeleteOnTermination: false,
    };
    volume.State = 'in-use';
    volume.Attachments = [attachment];
    return attachment;
  }

  detachVolume(input: DetachVolumeCommandInput) {
    this.#dryRun(input);
    const volume = this.#volume(input.VolumeId);
    const attachment = volume.Attachments?.[0];
    if (attachment === undefined || attachment.State !== 'attached') throw ec2Error('IncorrectState');
    if (input.InstanceId !== undefined && input.InstanceId !== attachment.InstanceId) {
      throw ec2Error('InvalidAttachment.NotFound');
    }
    attachment.State = 'detaching';
    return attachment;
  }

  attachInterface(input: AttachNetworkInterfaceCommandInput) {
    this.#dryRun(input);
    const eni = this.#interface(input.NetworkInterfaceId);
    if (eni.Attachment) throw ec2Error('InvalidNetworkInterface.InUse');
    const indexTaken = [...this.interfaces.values()].some(
      (other) =>
        other.Attachment?.InstanceId === input.InstanceId &&
        other.Attachment?.DeviceIndex === input.DeviceIndex,
    );
    if (indexTaken) throw ec2Error('InvalidParameterValue', `device index ${input.DeviceIndex} is taken`);
    const attachmentId = this.#newId('eni-attach');
    eni.Status = 'in-use';
    eni.Attachment = {
      AttachmentId: attachmentId,
      InstanceId: input.InstanceId,
      DeviceIndex: input.DeviceIndex,
      Status: 'attaching',
      DeleteOnTermination: false,
    };
    return { AttachmentId: attachmentId };
  }

  detachInterface(input: DetachNetworkInterfaceCommandInput) {
    this.#dryRun(input);
    const eni = [...this.interfaces.values()].find((n) => n.Attachment?.AttachmentId === input.AttachmentId);
    if (eni === undefined) throw ec2Error('InvalidAttachmentID.NotFound');
    eni.Status = 'available';
    eni.Attachment = undefined;
    return {};
  }

  modifyInstance(input: ModifyInstanceAttributeCommandInput) {
    this.#dryRun(input);
    for (const mapping of input.BlockDeviceMappings ?? []) {
      const attachment = [...this.volumes.values()]
        .flatMap((volume) => volume.Attachments ?? [])
        .find((a) => a.InstanceId === input.InstanceId && a.Device === mapping.DeviceName);
      if (attachment === undefined) {
        throw ec2Error(
          'InvalidInstanceAttributeValue',
          `No device is currently mapped at ${mapping.DeviceName}`,
        );
      }
      if (mapping.Ebs?.DeleteOnTermination !== undefined)
        attachment.DeleteOnTermination = mapping.Ebs.DeleteOnTermination;
    }
    return {};
  }

  modifyInterface(input: ModifyNetworkInterfaceAttributeCommandInput) {
    this.#dryRun(input);
    const eni = this.#interface(input.NetworkInterfaceId);
    if (input.Attachment !== undefined) {
      const attachment = eni.Attachment;
      if (attachment === undefined || attachment.AttachmentId !== input.Attachment.AttachmentId) {
        throw ec2Error('InvalidAttachmentID.NotFound');
      }
      attachment.DeleteOnTermination = input.Attachment.DeleteOnTermination;
    }
    return {};
  }

  createTags(input: CreateTagsCommandInput) {
    this.#dryRun(input);
    const ids = input.Resources ?? [];
    if (ids.length > 1000) throw ec2Error('TagLimitExceeded');
    for (const id of ids) {
      const volume = this.volumes.get(id);
      const eni = this.interfaces.get(id);
      const snapshot = this.snapshots.get(id);
      if (volume) volume.Tags = mergeTags(volume.Tags, input.Tags);
      else if (eni) eni.TagSet = mergeTags(eni.TagSet, input.Tags);
      else if (snapshot) snapshot.Tags = mergeTags(snapshot.Tags, input.Tags);
      else throw ec2Error('InvalidID', `The ID '${id}' is not valid`);
    }
    return {};
  }

  /** The action has no DryRun member (the SDK drops one it is given): it always acts. */
  assignPrivateIps(input: AssignPrivateIpAddressesCommandInput) {
    const eni = this.#interface(input.NetworkInterfaceId);
    for (const ip of input.PrivateIpAddresses ?? []) {
      const holder = [...this.interfaces.values()].find((n) =>
        n.PrivateIpAddresses?.some((address) => address.PrivateIpAddress === ip),
      );
      if (holder === eni) continue;
      if (holder !== undefined) {
        if (!input.AllowReassignment) throw ec2Error('InvalidParameterValue', `${ip} is in use`);
        holder.PrivateIpAddresses = holder.PrivateIpAddresses?.filter(
          (address) => address.PrivateIpAddress !== ip,
        );
      }
      eni.PrivateIpAddresses = [...(eni.PrivateIpAddresses ?? []), { PrivateIpAddress: ip, Primary: false }];
    }
    return { NetworkInterfaceId: eni.NetworkInterfaceId };
  }

  associateAddress(input: AssociateAddressCommandInput) {
    this.#dryRun(input);
    const address = this.addresses.get(input.AllocationId ?? '');
    if (address === undefined) throw ec2Error('InvalidAllocationID.NotFound');
    if (address.AssociationId !== undefined && !input.AllowReassociation) {
      throw ec2Error('Resource.AlreadyAssociated');
    }
    address.AssociationId = this.#newId('eipassoc');
    address.NetworkInterfaceId = input.NetworkInterfaceId;
    address.PrivateIpAddress = input.PrivateIpAddress;
    return { AssociationId: address.AssociationId };
  }

  createSnapshot(input: CreateSnapshotCommandInput) {
    this.#dryRun(input);
    const volume = this.#volume(input.VolumeId);
    const snapshot: Snapshot = {
      SnapshotId: this.#newId('snap'),
      VolumeId: volume.VolumeId,
      VolumeSize: volume.Size,
      State: 'pending',
      StartTime: new Date(Date.UTC(2026, 0, 1, 12, 0, this.#next)),
      OwnerId: ACCOUNT,
      Tags: input.TagSpecifications?.find((spec) => spec.ResourceType === 'snapshot')?.Tags,
    };
    this.addSnapshot(snapshot);
    return snapshot;
  }

  createVolume(input: CreateVolumeCommandInput) {
    this.#dryRun(input);
    const known = input.ClientToken === undefined ? undefined : this.volumeByToken.get(input.ClientToken);
    if (known !== undefined) return this.volumes.get(known);
    const snapshot = this.snapshots.get(input.SnapshotId ?? '');
    if (snapshot === undefined) throw ec2Error('InvalidSnapshot.NotFound');
    const volume: Volume = {
      VolumeId: this.#newId('vol'),
      State: 'creating',
      AvailabilityZone: input.AvailabilityZone,
      Size: snapshot.VolumeSize,
      VolumeType: input.VolumeType ?? 'gp2',
      SnapshotId: snapshot.SnapshotId,
      Attachments: [],
      Tags: input.TagSpecifications?.find((spec) => spec.ResourceType === 'volume')?.Tags,
    };
    this.addVolume(volume);
    if (input.ClientToken !== undefined) this.volumeByToken.set(input.ClientToken, volume.VolumeId!);
    return volume;
  }

  #dryRun(input: { DryRun?: boolean | undefined }): void {
    if (!input.DryRun || this.ignoresDryRun) return;
    throw this.dryRunAllowed ? ec2Error('DryRunOperation') : ec2Error('UnauthorizedOperation');
  }

  #newId(prefix: string): string {
    return `${prefix}-${(++this.#next).toString(16).padStart(17, '0')}`;
  }

  #volume(volumeId: string | undefined): Volume {
    const volume = this.volumes.get(volumeId ?? '');
    if (volume === undefined) throw ec2Error('InvalidVolume.NotFound');
    return volume;
  }

  #interface(networkInterfaceId: string | undefined): NetworkInterface {
    const eni = this.interfaces.get(networkInterfaceId ?? '');
    if (eni === undefined) throw ec2Error('InvalidNetworkInterfaceID.NotFound');
    return eni;
  }

  /** The resources an id parameter names; like EC2, one unknown id fails the whole call. */
  #byIds<T>(resources: Map<string, T>, ids: string[] | undefined, notFound: string): T[] {
    if (ids === undefined) return [...resources.values()];
    return ids.map((id) => {
      const resource = resources.get(id);
      if (resource === undefined) throw ec2Error(notFound, `The id '${id}' does not exist`);
      return resource;
    });
  }

  #page<T>(items: T[], token: string | undefined): { page: T[]; nextToken: string | undefined } {
    const start = Number(token ?? '0');
    const page = items.slice(start, start + this.pageSize);
    const end = start + page.length;
    return { page: structuredClone(page), nextToken: end < items.length ? String(end) : undefined };
  }
}

/** The resources every filter matches; `tag:Key` filters on tags. */
function select<T>(
  resources: readonly T[],
  filters: Filter[] | undefined,
  fields: FilterFields<T>,
  tagsOf: (resource: T) => Tag[] | undefined,
): T[] {
  for (const filter of filters ?? []) {
    if ((filter.Values?.length ?? 0) > 200) throw ec2Error('FilterLimitExceeded');
  }
  return resources.filter((resource) =>
    (filters ?? []).every((filter) => {
      const name = filter.Name ?? '';
      const values = name.startsWith('tag:')
        ? (tagsOf(resource) ?? []).filter((tag) => tag.Key === name.slice(4)).map((tag) => tag.Value)
        : fields(resource, name);
      if (values === undefined) throw ec2Error('InvalidParameterValue', `The filter '${name}' is invalid`);
      return values.some((value) => value !== undefined && (filter.Values ?? []).includes(value));
    }),
  );
}

function mergeTags(existing: Tag[] | undefined, added: Tag[] | undefined): Tag[] {
  const merged = new Map((existing ?? []).map((tag) => [tag.Key, tag.Value]));
  for (const tag of added ?? []) merged.set(tag.Key, tag.Value);
  return [...merged].map(([Key, Value]) => ({ Key, Value }));
}

/** A gp3 data volume attached to i-old at /dev/sdf, deleted on termination. */
function dataVolume(volumeId = 'vol-data'): Volume {
  return {
    VolumeId: volumeId,
    State: 'in-use',
    AvailabilityZone: 'us-east-1a',
    Size: 100,
    VolumeType: 'gp3',
    SnapshotId: 'snap-origin',
    Attachments: [
      {
        VolumeId: volumeId,
        InstanceId: 'i-old',
        Device: '/dev/sdf',
        State: 'attached',
        DeleteOnTermination: true,
      },
    ],
    Tags: [{ Key: 'Name', Value: 'data' }],
  };
}

function availableVolume(volumeId: string): Volume {
  return { VolumeId: volumeId, State: 'available', AvailabilityZone: 'us-east-1a', Size: 8, Attachments: [] };
}

/** The secondary interface of i-old (device 1), its primary private IP holding an Elastic IP. */
function secondaryInterface(): NetworkInterface {
  return {
    NetworkInterfaceId: 'eni-moving',
    Status: 'in-use',
    SubnetId: 'subnet-a',
    AvailabilityZone: 'us-east-1a',
    Attachment: {
      AttachmentId: 'eni-attach-1',
      InstanceId: 'i-old',
      DeviceIndex: 1,
      Status: 'attached',
      DeleteOnTermination: true,
    },
    PrivateIpAddresses: [
      {
        PrivateIpAddress: '10.0.1.20',
        Primary: true,
        Association: {
          PublicIp: '203.0.113.7',
          AllocationId: 'eipalloc-1',
          AssociationId: 'eipassoc-1',
          IpOwnerId: ACCOUNT,
        },
      },
      { PrivateIpAddress: '10.0.1.21', Primary: false },
    ],
    TagSet: [{ Key: 'spot-handoff:managed', Value: 'true' }],
  };
}

/** The primary interface of i-new (device 0), with a public IP Amazon assigned. */
function replacementInterface(): NetworkInterface {
  return {
    NetworkInterfaceId: 'eni-new',
    Status: 'in-use',
    SubnetId: 'subnet-a',
    AvailabilityZone: 'us-east-1a',
    Attachment: {
      AttachmentId: 'eni-attach-9',
      InstanceId: 'i-new',
      DeviceIndex: 0,
      Status: 'attached',
      DeleteOnTermination: true,
    },
    PrivateIpAddresses: [
      {
        PrivateIpAddress: '10.0.1.30',
        Primary: true,
        Association: { PublicIp: '198.51.100.1', IpOwnerId: 'amazon' },
      },
    ],
    TagSet: [],
  };
}

const workflowTags = { 'spot-handoff:workflow': 'wf-1', 'spot-handoff:managed': 'true' };

let ec2: FakeEc2Api;
let client: EC2Client;

function resources(options: Omit<Ec2StatefulResourcesOptions, 'client'> = {}): Ec2StatefulResources {
  return new Ec2StatefulResources({ client, ...options });
}

beforeEach(() => {
  ec2Mock.reset();
  ec2 = new FakeEc2Api();
  client = new EC2Client({ region: 'us-east-1' });
  ec2.addVolume(dataVolume());
  ec2.addVolume(availableVolume('vol-free'));
  ec2.addInterface(secondaryInterface());
  ec2.addInterface(replacementInterface());
  ec2.addresses.set('eipalloc-1', {
    AllocationId: 'eipalloc-1',
    PublicIp: '203.0.113.7',
    AssociationId: 'eipassoc-1',
    InstanceId: 'i-old',
    PrivateIpAddress: '10.0.1.20',
  });
});

describe('Ec2StatefulResources.describeVolumes', () => {
  it('maps what EC2 reports and leaves out a volume EC2 does not know, by filtering on volume-id', async () => {
    // Prepare
    const adapter = resources();

    // Act
    const facts = await adapter.describeVolumes(['vol-data', 'vol-gone']);

    // Assess
    expect([...facts.keys()]).toEqual(['vol-data']);
    expect(facts.get('vol-data')).toEqual({
      volumeId: 'vol-data',
      state: 'in-use',
      availabilityZone: 'us-east-1a',
      size: 100,
      volumeType: 'gp3',
      snapshotId: 'snap-origin',
      attachments: [
        { instanceId: 'i-old', device: '/dev/sdf', state: 'attached', deleteOnTermination: true },
      ],
      tags: { Name: 'data' },
    });
    const [call] = ec2Mock.commandCalls(DescribeVolumesCommand);
    expect(call?.args[0].input.Filters).toEqual([{ Name: 'volume-id', Values: ['vol-data', 'vol-gone'] }]);
    expect(call?.args[0].input.VolumeIds).toBeUndefined();
  });

  it('describes 200 ids per call (the filter limit) and follows every page', async () => {
    // Prepare: 450 volumes asked for (one twice), EC2 answering 7 per page
    const ids = Array.from({ length: 450 }, (_, n) => `vol-${n.toString(16).padStart(17, '0')}`);
    for (const id of ids) ec2.addVolume(availableVolume(id));
    ec2.pageSize = 7;
    const adapter = resources();

    // Act
    const facts = await adapter.describeVolumes([...ids, ids[0]!]);

    // Assess
    expect(facts.size).toBe(450);
    const inputs = ec2Mock.commandCalls(DescribeVolumesCommand).map((call) => call.args[0].input);
    const firstPages = inputs.filter((input) => input.NextToken === undefined);
    expect(firstPages.map((input) => input.Filters?.[0]?.Values?.length ?? 0).sort((a, b) => b - a)).toEqual([
      200, 200, 50,
    ]);
  });

  it('makes no call for no ids', async () => {
    const facts = await resources().describeVolumes([]);

    expect(facts.size).toBe(0);
    expect(ec2Mock.calls()).toHaveLength(0);
  });

  it('fails loudly on a volume reported without a state', async () => {
    ec2.addVolume({ ...availableVolume('vol-odd'), State: undefined });

    await expect(resources().describeVolumes(['vol-odd'])).rejects.toBeInstanceOf(UnexpectedResponseError);
  });
});

describe('Ec2StatefulResources.describeInterfaces', () => {
  it('maps attachment, private IPs and Elastic IPs, and leaves out an unknown interface', async () => {
    const adapter = resources();

    const facts = await adapter.describeInterfaces(['eni-moving', 'eni-new', 'eni-gone']);

    expect([...facts.keys()].sort()).toEqual(['eni-moving', 'eni-new']);
    expect(facts.get('eni-moving')).toEqual({
      networkInterfaceId: 'eni-moving',
      status: 'in-use',
      subnetId: 'subnet-a',
      availabilityZone: 'us-east-1a',
      attachment: {
        attachmentId: 'eni-attach-1',
        instanceId: 'i-old',
        deviceIndex: 1,
        status: 'attached',
        deleteOnTermination: true,
      },
      privateIps: [
        {
          privateIpAddress: '10.0.1.20',
          primary: true,
          elasticIp: { publicIp: '203.0.113.7', allocationId: 'eipalloc-1', associationId: 'eipassoc-1' },
        },
        { privateIpAddress: '10.0.1.21', primary: false },
      ],
      tags: { 'spot-handoff:managed': 'true' },
    });
    // A public IP Amazon assigned has no allocation: it is not an Elastic IP.
    expect(facts.get('eni-new')?.privateIps).toEqual([{ privateIpAddress: '10.0.1.30', primary: true }]);
    const [call] = ec2Mock.commandCalls(DescribeNetworkInterfacesCommand);
    expect(call?.args[0].input.Filters).toEqual([
      { Name: 'network-interface-id', Values: ['eni-moving', 'eni-new', 'eni-gone'] },
    ]);
    expect(call?.args[0].input.NetworkInterfaceIds).toBeUndefined();
  });

  it('reports a detached interface without attachment', async () => {
    ec2.addInterface({
      ...secondaryInterface(),
      NetworkInterfaceId: 'eni-free',
      Status: 'available',
      Attachment: undefined,
    });

    const facts = await resources().describeInterfaces(['eni-free']);

    expect(facts.get('eni-free')?.status).toBe('available');
    expect(facts.get('eni-free')).not.toHaveProperty('attachment');
  });

  it('makes no call for no ids', async () => {
    expect((await resources().describeInterfaces([])).size).toBe(0);
    expect(ec2Mock.calls()).toHaveLength(0);
  });
});

describe('Ec2StatefulResources.describeSnapshots', () => {
  it('maps the account’s snapshots and leaves out an unknown one, by filtering on snapshot-id', async () => {
    ec2.addSnapshot({
      SnapshotId: 'snap-1',
      VolumeId: 'vol-data',
      State: 'completed',
      OwnerId: ACCOUNT,
      Tags: [{ Key: 'spot-handoff:workflow', Value: 'wf-1' }],
    });
    const adapter = resources();

    const facts = await adapter.describeSnapshots(['snap-1', 'snap-gone']);

    expect([...facts.values()]).toEqual([
      {
        snapshotId: 'snap-1',
        volumeId: 'vol-data',
        state: 'completed',
        tags: { 'spot-handoff:workflow': 'wf-1' },
      },
    ]);
    const [call] = ec2Mock.commandCalls(DescribeSnapshotsCommand);
    expect(call?.args[0].input).toEqual({
      OwnerIds: ['self'],
      Filters: [{ Name: 'snapshot-id', Values: ['snap-1', 'snap-gone'] }],
    });
  });

  it('makes no call for no ids', async () => {
    expect((await resources().describeSnapshots([])).size).toBe(0);
    expect(ec2Mock.calls()).toHaveLength(0);
  });
});

describe('Ec2StatefulResources.keepOnTermination', () => {
  it('keeps the block devices in one call and each interface attachment, found by its attachment id', async () => {
    // Prepare
    ec2.addVolume({
      ...dataVolume('vol-logs'),
      Attachments: [
        { InstanceId: 'i-old', Device: '/dev/sdg', State: 'attached', DeleteOnTermination: true },
      ],
    });
    const adapter = resources();

    // Act
    await adapter.keepOnTermination('i-old', {
      deviceNames: ['/dev/sdf', '/dev/sdg'],
      attachmentIds: ['eni-attach-1'],
    });

    // Assess: what EC2 holds afterwards
    expect(ec2.volumes.get('vol-data')?.Attachments?.[0]?.DeleteOnTermination).toBe(false);
    expect(ec2.volumes.get('vol-logs')?.Attachments?.[0]?.DeleteOnTermination).toBe(false);
    expect(ec2.interfaces.get('eni-moving')?.Attachment?.DeleteOnTermination).toBe(false);
    // and how it was asked
    expect(ec2Mock.commandCalls(ModifyInstanceAttributeCommand).map((call) => call.args[0].input)).toEqual([
      {
        InstanceId: 'i-old',
        BlockDeviceMappings: [
          { DeviceName: '/dev/sdf', Ebs: { DeleteOnTermination: false } },
          { DeviceName: '/dev/sdg', Ebs: { DeleteOnTermination: false } },
        ],
      },
    ]);
    expect(
      ec2Mock.commandCalls(DescribeNetworkInterfacesCommand).map((call) => call.args[0].input.Filters),
    ).toEqual([[{ Name: 'attachment.attachment-id', Values: ['eni-attach-1'] }]]);
    expect(
      ec2Mock.commandCalls(ModifyNetworkInterfaceAttributeCommand).map((call) => call.args[0].input),
    ).toEqual([
      {
        NetworkInterfaceId: 'eni-moving',
        Attachment: { AttachmentId: 'eni-attach-1', DeleteOnTermination: false },
      },
    ]);
  });

  it('skips an attachment EC2 no longer knows', async () => {
    await resources().keepOnTermination('i-old', { deviceNames: [], attachmentIds: ['eni-attach-gone'] });

    expect(ec2Mock.commandCalls(ModifyNetworkInterfaceAttributeCommand)).toHaveLength(0);
  });

  it('makes only the calls it needs, and none for nothing', async () => {
    const adapter = resources();

    await adapter.keepOnTermination('i-old', { deviceNames: [], attachmentIds: [] });
    expect(ec2Mock.calls()).toHaveLength(0);

    await adapter.keepOnTermination('i-old', { deviceNames: ['/dev/sdf'], attachmentIds: [] });
    expect(ec2Mock.commandCalls(ModifyInstanceAttributeCommand)).toHaveLength(1);
    expect(ec2Mock.commandCalls(DescribeNetworkInterfacesCommand)).toHaveLength(0);

    ec2Mock.resetHistory();
    await adapter.keepOnTermination('i-old', { deviceNames: [], attachmentIds: ['eni-attach-1'] });
    expect(ec2Mock.commandCalls(ModifyInstanceAttributeCommand)).toHaveLength(0);
    expect(ec2Mock.commandCalls(ModifyNetworkInterfaceAttributeCommand)).toHaveLength(1);
  });
});

describe('Ec2StatefulResources.tag', () => {
  it('tags every resource, leaving out reserved aws: keys', async () => {
    await resources().tag(['vol-data', 'eni-moving'], {
      'spot-handoff:workflow': 'wf-1',
      'aws:reserved': 'x',
    });

    expect(ec2.volumes.get('vol-data')?.Tags).toContainEqual({ Key: 'spot-handoff:workflow', Value: 'wf-1' });
    expect(ec2.interfaces.get('eni-moving')?.TagSet).toContainEqual({
      Key: 'spot-handoff:workflow',
      Value: 'wf-1',
    });
    expect(ec2Mock.commandCalls(CreateTagsCommand)[0]?.args[0].input.Tags).toEqual([
      { Key: 'spot-handoff:workflow', Value: 'wf-1' },
    ]);
  });

  it('tags 1000 resources per call', async () => {
    const ids = Array.from({ length: 2500 }, (_, n) => `vol-${n.toString(16).padStart(17, '0')}`);
    for (const id of ids) ec2.addVolume(availableVolume(id));

    await resources().tag(ids, { k: 'v' });

    const sizes = ec2Mock.commandCalls(CreateTagsCommand).map((call) => call.args[0].input.Resources?.length);
    expect(sizes.sort((a, b) => (b ?? 0) - (a ?? 0))).toEqual([1000, 1000, 500]);
    expect(ids.every((id) => ec2.volumes.get(id)?.Tags?.[0]?.Key === 'k')).toBe(true);
  });

  it('makes no call with nothing to tag or no tags to set', async () => {
    const adapter = resources();

    await adapter.tag([], { k: 'v' });
    await adapter.tag(['vol-data'], {});
    await adapter.tag(['vol-data'], { 'aws:only': 'reserved' });

    expect(ec2Mock.calls()).toHaveLength(0);
  });
});

describe('Ec2StatefulResources.attachVolume', () => {
  it('attaches the volume to the instance at the device', async () => {
    await resources().attachVolume('vol-free', 'i-new', '/dev/sdf');

    expect(ec2.volumes.get('vol-free')?.Attachments).toEqual([
      expect.objectContaining({ InstanceId: 'i-new', Device: '/dev/sdf', State: 'attaching' }),
    ]);
    expect(ec2Mock.commandCalls(AttachVolumeCommand)[0]?.args[0].input).toEqual({
      VolumeId: 'vol-free',
      InstanceId: 'i-new',
      Device: '/dev/sdf',
    });
  });

  it('treats a repeat as success: the volume is already attaching there', async () => {
    const adapter = resources();
    await adapter.attachVolume('vol-free', 'i-new', '/dev/sdf');

    await adapter.attachVolume('vol-free', 'i-new', '/dev/sdf');

    expect(ec2.volumes.get('vol-free')?.Attachments).toHaveLength(1);
    expect(ec2Mock.commandCalls(DescribeVolumesCommand)).toHaveLength(1);
  });

  it('rethrows when the volume is attached to another instance', async () => {
    await expect(resources().attachVolume('vol-data', 'i-new', '/dev/sdf')).rejects.toMatchObject({
      name: 'VolumeInUse',
    });
    expect(ec2.volumes.get('vol-data')?.Attachments?.[0]?.InstanceId).toBe('i-old');
  });

  it('rethrows when the volume is attached to that instance at another device', async () => {
    await expect(resources().attachVolume('vol-data', 'i-old', '/dev/sdh')).rejects.toMatchObject({
      name: 'VolumeInUse',
    });
  });

  it('rethrows an error that is no conflict without looking', async () => {
    await expect(resources().attachVolume('vol-gone', 'i-new', '/dev/sdf')).rejects.toMatchObject({
      name: 'InvalidVolume.NotFound',
    });
    expect(ec2Mock.commandCalls(DescribeVolumesCommand)).toHaveLength(0);
  });
});

describe('Ec2StatefulResources.detachVolume', () => {
  it('detaches the volume from that instance', async () => {
    await resources().detachVolume('vol-data', 'i-old');

    expect(ec2.volumes.get('vol-data')?.Attachments?.[0]?.State).toBe('detaching');
    expect(ec2Mock.commandCalls(DetachVolumeCommand)[0]?.args[0].input).toEqual({
      VolumeId: 'vol-data',
      InstanceId: 'i-old',
    });
  });

  it('treats a repeat as success, while detaching and once available', async () => {
    const adapter = resources();
    await adapter.detachVolume('vol-data', 'i-old');

    await adapter.detachVolume('vol-data', 'i-old');
    ec2.addVolume(availableVolume('vol-data'));
    await adapter.detachVolume('vol-data', 'i-old');

    expect(ec2Mock.commandCalls(DetachVolumeCommand)).toHaveLength(3);
  });

  it('treats a volume attached to another instance as detached from this one', async () => {
    await resources().detachVolume('vol-data', 'i-new');

    expect(ec2.volumes.get('vol-data')?.Attachments?.[0]).toMatchObject({
      InstanceId: 'i-old',
      State: 'attached',
    });
  });

  it('rethrows IncorrectState while the volume is still attaching to that instance', async () => {
    ec2.addVolume({
      ...dataVolume(),
      Attachments: [
        { InstanceId: 'i-old', Device: '/dev/sdf', State: 'attaching', DeleteOnTermination: false },
      ],
    });

    await expect(resources().detachVolume('vol-data', 'i-old')).rejects.toMatchObject({
      name: 'IncorrectState',
    });
  });
});

describe('Ec2StatefulResources.attachInterface', () => {
  it('attaches the interface at the device index', async () => {
    await resources().detachInterface('eni-attach-1');

    await resources().attachInterface('eni-moving', 'i-new', 1);

    expect(ec2.interfaces.get('eni-moving')?.Attachment).toMatchObject({
      InstanceId: 'i-new',
      DeviceIndex: 1,
    });
    expect(ec2Mock.commandCalls(AttachNetworkInterfaceCommand)[0]?.args[0].input).toEqual({
      NetworkInterfaceId: 'eni-moving',
      InstanceId: 'i-new',
      DeviceIndex: 1,
    });
  });

  it('treats a repeat as success: the interface is already on that instance', async () => {
    const adapter = resources();

    await adapter.attachInterface('eni-moving', 'i-old', 1);

    expect(ec2.interfaces.get('eni-moving')?.Attachment?.AttachmentId).toBe('eni-attach-1');
  });

  it('rethrows when the interface is attached to another instance', async () => {
    await expect(resources().attachInterface('eni-moving', 'i-new', 1)).rejects.toMatchObject({
      name: 'InvalidNetworkInterface.InUse',
    });
  });

  it('rethrows when another interface holds the device index', async () => {
    await resources().detachInterface('eni-attach-1');

    await expect(resources().attachInterface('eni-moving', 'i-new', 0)).rejects.toMatchObject({
      name: 'InvalidParameterValue',
    });
  });
});

describe('Ec2StatefulResources.detachInterface', () => {
  it('detaches without force, and an attachment already gone is success', async () => {
    const adapter = resources();

    await adapter.detachInterface('eni-attach-1');
    await adapter.detachInterface('eni-attach-1');

    expect(ec2.interfaces.get('eni-moving')?.Attachment).toBeUndefined();
    expect(ec2Mock.commandCalls(DetachNetworkInterfaceCommand).map((call) => call.args[0].input)).toEqual([
      { AttachmentId: 'eni-attach-1', Force: false },
      { AttachmentId: 'eni-attach-1', Force: false },
    ]);
  });
});

describe('Ec2StatefulResources.movePrivateIps', () => {
  it('moves the IPs from wherever they are, once each', async () => {
    await resources().movePrivateIps('eni-new', ['10.0.1.21', '10.0.1.21']);

    const ipsOf = (id: string) => ec2.interfaces.get(id)?.PrivateIpAddresses?.map((a) => a.PrivateIpAddress);
    expect(ipsOf('eni-new')).toEqual(['10.0.1.30', '10.0.1.21']);
    expect(ipsOf('eni-moving')).toEqual(['10.0.1.20']);
    expect(ec2Mock.commandCalls(AssignPrivateIpAddressesCommand)[0]?.args[0].input).toEqual({
      NetworkInterfaceId: 'eni-new',
      PrivateIpAddresses: ['10.0.1.21'],
      AllowReassignment: true,
    });
  });

  it('makes no call for no IPs', async () => {
    await resources().movePrivateIps('eni-new', []);

    expect(ec2Mock.calls()).toHaveLength(0);
  });
});

describe('Ec2StatefulResources.moveElasticIp', () => {
  it('reassociates the Elastic IP with the interface and private IP, again without harm', async () => {
    const adapter = resources();

    await adapter.moveElasticIp('eipalloc-1', 'eni-new', '10.0.1.30');
    await adapter.moveElasticIp('eipalloc-1', 'eni-new', '10.0.1.30');

    expect(ec2.addresses.get('eipalloc-1')).toMatchObject({
      NetworkInterfaceId: 'eni-new',
      PrivateIpAddress: '10.0.1.30',
    });
    expect(ec2Mock.commandCalls(AssociateAddressCommand)[0]?.args[0].input).toEqual({
      AllocationId: 'eipalloc-1',
      NetworkInterfaceId: 'eni-new',
      PrivateIpAddress: '10.0.1.30',
      AllowReassociation: true,
    });
  });
});

describe('Ec2StatefulResources.snapshotFor', () => {
  it('creates a snapshot tagged for the workflow when there is none', async () => {
    const snapshot = await resources().snapshotFor('vol-data', workflowTags);

    expect(snapshot).toEqual({
      snapshotId: expect.stringMatching(/^snap-/),
      volumeId: 'vol-data',
      state: 'pending',
      tags: workflowTags,
    });
    expect(ec2.snapshots.get(snapshot.snapshotId)?.Tags).toEqual([
      { Key: 'spot-handoff:workflow', Value: 'wf-1' },
      { Key: 'spot-handoff:managed', Value: 'true' },
    ]);
    expect(ec2Mock.commandCalls(DescribeSnapshotsCommand)[0]?.args[0].input).toEqual({
      OwnerIds: ['self'],
      Filters: [
        { Name: 'volume-id', Values: ['vol-data'] },
        { Name: 'tag:spot-handoff:workflow', Values: ['wf-1'] },
      ],
    });
  });

  it('returns the snapshot of the first attempt instead of creating a second', async () => {
    const adapter = resources();
    const first = await adapter.snapshotFor('vol-data', workflowTags);

    const second = await adapter.snapshotFor('vol-data', workflowTags);

    expect(second).toEqual(first);
    expect(ec2.snapshots.size).toBe(1);
    expect(ec2Mock.commandCalls(CreateSnapshotCommand)).toHaveLength(1);
  });

  it('passes over a failed snapshot, another workflow’s and another account’s', async () => {
    const tags = (workflow: string) => [{ Key: 'spot-handoff:workflow', Value: workflow }];
    ec2.addSnapshot({
      SnapshotId: 'snap-failed',
      VolumeId: 'vol-data',
      State: 'error',
      OwnerId: ACCOUNT,
      Tags: tags('wf-1'),
    });
    ec2.addSnapshot({
      SnapshotId: 'snap-other',
      VolumeId: 'vol-data',
      State: 'completed',
      OwnerId: ACCOUNT,
      Tags: tags('wf-0'),
    });
    ec2.addSnapshot({
      SnapshotId: 'snap-shared',
      VolumeId: 'vol-data',
      State: 'completed',
      OwnerId: '999999999999',
      Tags: tags('wf-1'),
    });

    const snapshot = await resources().snapshotFor('vol-data', workflowTags);

    expect(['snap-failed', 'snap-other', 'snap-shared']).not.toContain(snapshot.snapshotId);
    expect(ec2Mock.commandCalls(CreateSnapshotCommand)).toHaveLength(1);
  });

  it('prefers a completed snapshot of the workflow', async () => {
    const tags = [{ Key: 'spot-handoff:workflow', Value: 'wf-1' }];
    ec2.addSnapshot({
      SnapshotId: 'snap-pending',
      VolumeId: 'vol-data',
      State: 'pending',
      OwnerId: ACCOUNT,
      Tags: tags,
    });
    ec2.addSnapshot({
      SnapshotId: 'snap-done',
      VolumeId: 'vol-data',
      State: 'completed',
      OwnerId: ACCOUNT,
      Tags: tags,
    });

    const snapshot = await resources().snapshotFor('vol-data', workflowTags);

    expect(snapshot.snapshotId).toBe('snap-done');
  });
});

describe('Ec2StatefulResources.restoreVolume', () => {
  const restore = {
    snapshotId: 'snap-1',
    availabilityZone: 'us-east-1b',
    volumeType: 'gp3',
    clientToken: 'wf-1-vol-data',
    tags: workflowTags,
  };

  beforeEach(() => {
    ec2.addSnapshot({
      SnapshotId: 'snap-1',
      VolumeId: 'vol-data',
      VolumeSize: 100,
      State: 'completed',
      OwnerId: ACCOUNT,
    });
  });

  it('creates the volume from the snapshot in the zone, with the token and tags', async () => {
    const volume = await resources().restoreVolume(restore);

    expect(volume).toEqual({
      volumeId: expect.stringMatching(/^vol-/),
      state: 'creating',
      availabilityZone: 'us-east-1b',
      size: 100,
      volumeType: 'gp3',
      snapshotId: 'snap-1',
      attachments: [],
      tags: workflowTags,
    });
    expect(ec2Mock.commandCalls(CreateVolumeCommand)[0]?.args[0].input).toEqual({
      SnapshotId: 'snap-1',
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
    const before = ec2.volumes.size;

    const first = await adapter.restoreVolume(restore);
    const second = await adapter.restoreVolume(restore);

    expect(second.volumeId).toBe(first.volumeId);
    expect(ec2.volumes.size).toBe(before + 1);
  });

  it('sends no volume type the request does not set', async () => {
    const { volumeType: _unset, ...withoutType } = restore;

    await resources().restoreVolume(withoutType);

    expect(ec2Mock.commandCalls(CreateVolumeCommand)[0]?.args[0].input).not.toHaveProperty('VolumeType');
  });
});

describe('Ec2StatefulResources.subnetsOf', () => {
  it('lists the subnets of the VPC across pages', async () => {
    for (const [n, zone] of ['us-east-1a', 'us-east-1b', 'us-east-1c'].entries()) {
      ec2.subnets.push({ SubnetId: `subnet-${n}`, VpcId: 'vpc-1', AvailabilityZone: zone });
    }
    ec2.subnets.push({ SubnetId: 'subnet-elsewhere', VpcId: 'vpc-2', AvailabilityZone: 'us-east-1a' });
    ec2.pageSize = 2;

    const subnets = await resources().subnetsOf('vpc-1');

    expect(subnets).toEqual([
      { subnetId: 'subnet-0', vpcId: 'vpc-1', availabilityZone: 'us-east-1a' },
      { subnetId: 'subnet-1', vpcId: 'vpc-1', availabilityZone: 'us-east-1b' },
      { subnetId: 'subnet-2', vpcId: 'vpc-1', availabilityZone: 'us-east-1c' },
    ]);
    expect(ec2Mock.commandCalls(DescribeSubnetsCommand)[0]?.args[0].input.Filters).toEqual([
      { Name: 'vpc-id', Values: ['vpc-1'] },
    ]);
  });
});

describe('Ec2StatefulResources in a dry run', () => {
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
        r.keepOnTermination('i-old', { deviceNames: ['/dev/sdf'], attachmentIds: ['eni-attach-1'] }),
    ],
    ['tag', ['CreateTags'], (r: Ec2StatefulResources) => r.tag(['vol-data'], { k: 'v' })],
    [
      'attachVolume',
      ['AttachVolume'],
      (r: Ec2StatefulResources) => r.attachVolume('vol-free', 'i-new', '/dev/sdf'),
    ],
    ['detachVolume', ['DetachVolume'], (r: Ec2StatefulResources) => r.detachVolume('vol-data', 'i-old')],
    [
      'attachInterface',
      ['AttachNetworkInterface'],
      (r: Ec2StatefulResources) => r.attachInterface('eni-moving', 'i-new', 1),
    ],
    [
      'detachInterface',
      ['DetachNetworkInterface'],
      (r: Ec2StatefulResources) => r.detachInterface('eni-attach-1'),
    ],
    [
      'moveElasticIp',
      ['AssociateAddress'],
      (r: Ec2StatefulResources) => r.moveElasticIp('eipalloc-1', 'i-new', '10.0.1.30'),
    ],
  ] as const)('%s asks EC2 with DryRun, changes nothing and plans %j', async (_name, actions, act) => {
    // Prepare
    const plan = createPlanLog();
    const before = ec2.state();

    // Act
    await act(resources({ dryRun: true, plan }));

    // Assess
    expect(ec2.state()).toEqual(before);
    expect(plan.entries().map((entry) => entry.action)).toEqual(actions);
    expect(
      plan.entries().every((entry) => entry.outcome === 'would-succeed' && entry.service === 'ec2'),
    ).toBe(true);
    const sent = ec2Mock.calls().map((call) => call.args[0]);
    const mutating = sent.filter((command) => mutations.some((type) => command instanceof type));
    expect(mutating).toHaveLength(actions.length);
    for (const command of mutating) expect(command.input).toMatchObject({ DryRun: true });
  });

  it('plans the request as it would be sent, without DryRun', async () => {
    const plan = createPlanLog();

    await resources({ dryRun: true, plan }).moveElasticIp('eipalloc-1', 'eni-new', '10.0.1.30');

    expect(plan.entries()).toEqual([
      {
        service: 'ec2',
        action: 'AssociateAddress',
        params: {
          AllocationId: 'eipalloc-1',
          NetworkInterfaceId: 'eni-new',
          PrivateIpAddress: '10.0.1.30',
          AllowReassociation: true,
        },
        outcome: 'would-succeed',
      },
    ]);
  });

  it('does not send AssignPrivateIpAddresses, which has no DryRun, and plans it as skipped', async () => {
    const plan = createPlanLog();
    const before = ec2.state();

    await resources({ dryRun: true, plan }).movePrivateIps('eni-new', ['10.0.1.21']);

    expect(ec2.state()).toEqual(before);
    expect(ec2Mock.commandCalls(AssignPrivateIpAddressesCommand)).toHaveLength(0);
    expect(plan.entries()).toEqual([
      {
        service: 'ec2',
        action: 'AssignPrivateIpAddresses',
        params: { NetworkInterfaceId: 'eni-new', PrivateIpAddresses: ['10.0.1.21'], AllowReassignment: true },
        outcome: 'skipped',
      },
    ]);
  });

  it('plans a snapshot under a clearly fake id derived from the volume and tags', async () => {
    const plan = createPlanLog();

    const snapshot = await resources({ dryRun: true, plan }).snapshotFor('vol-data', workflowTags);

    expect(snapshot).toEqual({
      snapshotId: dryRunSnapshotId('vol-data', workflowTags),
      volumeId: 'vol-data',
      state: 'pending',
      tags: workflowTags,
    });
    expect(snapshot.snapshotId).toMatch(/^snap-dryrun[0-9a-f]{9}$/);
    expect(ec2.snapshots.size).toBe(0);
    expect(ec2Mock.commandCalls(CreateSnapshotCommand, { DryRun: true, VolumeId: 'vol-data' })).toHaveLength(
      1,
    );
    expect(plan.entries().map((entry) => entry.action)).toEqual(['CreateSnapshot']);
  });

  it('returns a snapshot that already exists without planning another', async () => {
    const existing = await resources().snapshotFor('vol-data', workflowTags);
    const plan = createPlanLog();

    const snapshot = await resources({ dryRun: true, plan }).snapshotFor('vol-data', workflowTags);

    expect(snapshot).toEqual(existing);
    expect(plan.entries()).toEqual([]);
  });

  it('plans a restored volume under a clearly fake id derived from the token', async () => {
    ec2.addSnapshot({
      SnapshotId: 'snap-1',
      VolumeId: 'vol-data',
      VolumeSize: 100,
      State: 'completed',
      OwnerId: ACCOUNT,
    });
    const plan = createPlanLog();
    const before = ec2.state();

    const volume = await resources({ dryRun: true, plan }).restoreVolume({
      snapshotId: 'snap-1',
      availabilityZone: 'us-east-1b',
      clientToken: 'wf-1-vol-data',
      tags: workflowTags,
    });

    expect(volume).toMatchObject({
      volumeId: dryRunVolumeId('wf-1-vol-data'),
      state: 'creating',
      availabilityZone: 'us-east-1b',
      snapshotId: 'snap-1',
      attachments: [],
      tags: workflowTags,
    });
    expect(volume.volumeId).toMatch(/^vol-dryrun[0-9a-f]{9}$/);
    expect(ec2.state()).toEqual(before);
    expect(
      ec2Mock.commandCalls(CreateVolumeCommand, { DryRun: true, ClientToken: 'wf-1-vol-data' }),
    ).toHaveLength(1);
    expect(plan.entries().map((entry) => entry.action)).toEqual(['CreateVolume']);
  });

  it('throws when EC2 says the call would fail, and plans nothing', async () => {
    ec2.dryRunAllowed = false;
    const plan = createPlanLog();

    await expect(
      resources({ dryRun: true, plan }).moveElasticIp('eipalloc-1', 'i-new', '10.0.1.30'),
    ).rejects.toMatchObject({
      name: 'UnauthorizedOperation',
    });
    expect(plan.entries()).toEqual([]);
  });

  it('throws when the endpoint ignores DryRun and acts', async () => {
    ec2.ignoresDryRun = true;

    await expect(
      resources({ dryRun: true, plan: createPlanLog() }).detachInterface('eni-attach-1'),
    ).rejects.toBeInstanceOf(UnexpectedResponseError);
  });

  it('still treats a call that already took effect as success', async () => {
    // EC2 may validate the request before the permission check that answers DryRunOperation.
    ec2Mock.on(DetachNetworkInterfaceCommand).rejects(ec2Error('InvalidAttachmentID.NotFound'));
    const plan = createPlanLog();

    await resources({ dryRun: true, plan }).detachInterface('eni-attach-gone');

    expect(plan.entries()).toEqual([]);
  });

  it('reads for real', async () => {
    const facts = await resources({ dryRun: true, plan: createPlanLog() }).describeVolumes(['vol-data']);

    expect(facts.get('vol-data')?.state).toBe('in-use');
  });
});

describe('Ec2StatefulResources and the abort signal', () => {
  it('passes the abort signal to every call', async () => {
    const abortSignal = new AbortController().signal;
    const adapter = resources({ abortSignal });

    await adapter.describeVolumes(['vol-data']);
    await adapter.attachVolume('vol-free', 'i-new', '/dev/sdf');

    for (const call of ec2Mock.calls()) {
      const options: unknown = (call.args as unknown[])[1];
      expect(options).toEqual({ abortSignal });
    }
    expect(ec2Mock.calls()).toHaveLength(2);
  });
});
