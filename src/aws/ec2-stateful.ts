import {
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
  DescribeSnapshotsCommand,
  DescribeSubnetsCommand,
  DescribeVolumesCommand,
  DetachNetworkInterfaceCommand,
  type DetachNetworkInterfaceCommandInput,
  DetachVolumeCommand,
  type DetachVolumeCommandInput,
  type Filter,
  ModifyInstanceAttributeCommand,
  type ModifyInstanceAttributeCommandInput,
  ModifyNetworkInterfaceAttributeCommand,
  type ModifyNetworkInterfaceAttributeCommandInput,
  type NetworkInterface,
  type Snapshot,
  type Volume,
  type VolumeType,
} from '@aws-sdk/client-ec2';
import { WORKFLOW_TAG } from '../config.ts';
import type {
  InterfaceFacts,
  SnapshotFacts,
  StatefulResources,
  SubnetFacts,
  VolumeFacts,
} from '../core/ports.ts';
import { inBatches } from './batching.ts';
import {
  allPages,
  byIds,
  dryRunSnapshotId,
  dryRunVolumeId,
  Ec2Adapter,
  type Ec2AdapterOptions,
  fromTagList,
  toTagList,
} from './ec2-base.ts';
import {
  toInterfaceFacts,
  toSnapshotFacts,
  toSubnetFacts,
  toVolumeFacts,
  withTagsSent,
} from './ec2-facts.ts';
import {
  isAttachmentNotFound,
  isIncorrectState,
  isInterfaceAttachConflict,
  isVolumeAttachConflict,
} from './errors.ts';

/** `CreateTags` takes at most 1000 resource ids per call. */
export const TAG_RESOURCES_PER_CALL = 1000;

/** Attachment states in which a volume or interface is (or is about to be) on an instance. */
const ON_INSTANCE: ReadonlySet<string> = new Set(['attaching', 'attached']);

/**
 * `AssignPrivateIpAddresses` has no `DryRun`: in a dry run it is not sent, and planned as `skipped`.
 */
export type Ec2StatefulResourcesOptions = Ec2AdapterOptions;

/**
 * {@link StatefulResources} over the EC2 API: volumes, network interfaces, private and Elastic IPs,
 * snapshots. Reads filter by id, so an id EC2 no longer knows is absent rather than an error.
 * Every mutation is idempotent: when EC2 refuses a call because it already took effect (a volume
 * already attached to that instance at that device, an attachment already gone), that is success.
 * @example
 * const resources = new Ec2StatefulResources({ client: clients.ec2, abortSignal: context.signal });
 * await resources.keepOnTermination('i-0abc', { deviceNames: ['/dev/sdf'], attachmentIds: [] });
 * await resources.detachVolume('vol-0data', 'i-0abc');
 */
export class Ec2StatefulResources extends Ec2Adapter implements StatefulResources {
  /** Filters on `volume-id`, 200 ids to a call. */
  async describeVolumes(volumeIds: readonly string[]): Promise<Map<string, VolumeFacts>> {
    const volumes = await byIds(volumeIds, (batch) => this.#volumes([{ Name: 'volume-id', Values: batch }]));
    return new Map(volumes.map((volume) => toVolumeFacts(volume)).map((fact) => [fact.volumeId, fact]));
  }

  /** Filters on `network-interface-id`, 200 ids to a call. */
  async describeInterfaces(interfaceIds: readonly string[]): Promise<Map<string, InterfaceFacts>> {
    const interfaces = await byIds(interfaceIds, (batch) =>
      this.#interfaces([{ Name: 'network-interface-id', Values: batch }]),
    );
    return new Map(
      interfaces
        .map((networkInterface) => toInterfaceFacts(networkInterface))
        .map((fact) => [fact.networkInterfaceId, fact]),
    );
  }

  /** Filters on `snapshot-id`, 200 ids to a call, among the account's own snapshots. */
  async describeSnapshots(snapshotIds: readonly string[]): Promise<Map<string, SnapshotFacts>> {
    const snapshots = await byIds(snapshotIds, (batch) =>
      this.#snapshots([{ Name: 'snapshot-id', Values: batch }]),
    );
    return new Map(
      snapshots
        .map((snapshot) => toSnapshotFacts(snapshot, 'DescribeSnapshots'))
        .map((fact) => [fact.snapshotId, fact]),
    );
  }

  /**
   * One `ModifyInstanceAttribute` for all the block devices, and one
   * `ModifyNetworkInterfaceAttribute` per interface attachment. The interfaces are found by their
   * attachment ids; an attachment EC2 no longer knows is skipped: its interface is not attached
   * by it any more, so there is no deletion on termination left to prevent.
   */
  async keepOnTermination(
    instanceId: string,
    target: { deviceNames: string[]; attachmentIds: string[] },
  ): Promise<void> {
    const deviceNames = [...new Set(target.deviceNames)];
    const attachmentIds = [...new Set(target.attachmentIds)];
    const work: Promise<void>[] = [];
    if (deviceNames.length > 0) {
      const input: ModifyInstanceAttributeCommandInput = {
        InstanceId: instanceId,
        BlockDeviceMappings: deviceNames.map((DeviceName) => ({
          DeviceName,
          Ebs: { DeleteOnTermination: false },
        })),
      };
      work.push(
        this.mutate('ModifyInstanceAttribute', input, (sent) =>
          this.client.send(new ModifyInstanceAttributeCommand(sent), this.call),
        ).then(() => undefined),
      );
    }
    if (attachmentIds.length > 0) work.push(this.#keepAttachments(attachmentIds));
    await Promise.all(work);
  }

  /** `CreateTags`, 1000 resources to a call. Keys with the reserved `aws:` prefix are left out. */
  async tag(resourceIds: readonly string[], tags: Record<string, string>): Promise<void> {
    const ids = [...new Set(resourceIds)];
    const tagList = toTagList(tags);
    if (ids.length === 0 || tagList.length === 0) return;
    await Promise.all(
      inBatches(ids, TAG_RESOURCES_PER_CALL).map((batch) => {
        const input: CreateTagsCommandInput = { Resources: batch, Tags: tagList };
        return this.mutate('CreateTags', input, (sent) =>
          this.client.send(new CreateTagsCommand(sent), this.call),
        );
      }),
    );
  }

  /** `AttachVolume`; a volume already attached (or attaching) to that instance at that device is success. */
  async attachVolume(volumeId: string, instanceId: string, deviceName: string): Promise<void> {
    const input: AttachVolumeCommandInput = {
      VolumeId: volumeId,
      InstanceId: instanceId,
      Device: deviceName,
    };
    try {
      await this.mutate('AttachVolume', input, (sent) =>
        this.client.send(new AttachVolumeCommand(sent), this.call),
      );
    } catch (error) {
      if (!isVolumeAttachConflict(error)) throw error;
      const volume = (await this.describeVolumes([volumeId])).get(volumeId);
      const alreadyThere = volume?.attachments.some(
        (attachment) =>
          attachment.instanceId === instanceId &&
          attachment.device === deviceName &&
          ON_INSTANCE.has(attachment.state),
      );
      if (!alreadyThere) throw error;
    }
  }

  /**
   * `DetachVolume` from that instance. A volume not attached to it (`InvalidAttachment.NotFound`),
   * or refused with `IncorrectState` while it is `available` or already detaching from it, is success.
   */
  async detachVolume(volumeId: string, instanceId: string): Promise<void> {
    const input: DetachVolumeCommandInput = { VolumeId: volumeId, InstanceId: instanceId };
    try {
      await this.mutate('DetachVolume', input, (sent) =>
        this.client.send(new DetachVolumeCommand(sent), this.call),
      );
    } catch (error) {
      if (isAttachmentNotFound(error)) return;
      if (!isIncorrectState(error)) throw error;
      const volume = (await this.describeVolumes([volumeId])).get(volumeId);
      const stillOn =
        volume === undefined ||
        volume.attachments.some(
          (attachment) => attachment.instanceId === instanceId && ON_INSTANCE.has(attachment.state),
        );
      if (stillOn) throw error;
    }
  }

  /** `AttachNetworkInterface`; an interface already attached (or attaching) to that instance is success. */
  async attachInterface(networkInterfaceId: string, instanceId: string, deviceIndex: number): Promise<void> {
    const input: AttachNetworkInterfaceCommandInput = {
      NetworkInterfaceId: networkInterfaceId,
      InstanceId: instanceId,
      DeviceIndex: deviceIndex,
    };
    try {
      await this.mutate('AttachNetworkInterface', input, (sent) =>
        this.client.send(new AttachNetworkInterfaceCommand(sent), this.call),
      );
    } catch (error) {
      if (!isInterfaceAttachConflict(error)) throw error;
      const attachment = (await this.describeInterfaces([networkInterfaceId])).get(
        networkInterfaceId,
      )?.attachment;
      const alreadyThere = attachment?.instanceId === instanceId && ON_INSTANCE.has(attachment.status);
      if (!alreadyThere) throw error;
    }
  }

  /** `DetachNetworkInterface` without force; an attachment EC2 no longer knows is success. */
  async detachInterface(attachmentId: string): Promise<void> {
    try {
      const input: DetachNetworkInterfaceCommandInput = { AttachmentId: attachmentId, Force: false };
      await this.mutate('DetachNetworkInterface', input, (sent) =>
        this.client.send(new DetachNetworkInterfaceCommand(sent), this.call),
      );
    } catch (error) {
      if (!isAttachmentNotFound(error)) throw error;
    }
  }

  /**
   * `AssignPrivateIpAddresses` with `AllowReassignment`. The action has no `DryRun` parameter (the
   * SDK would drop it and move the IPs for real), so a dry run does not send it: the plan records
   * it as `skipped`.
   */
  async movePrivateIps(networkInterfaceId: string, privateIps: readonly string[]): Promise<void> {
    const ips = [...new Set(privateIps)];
    if (ips.length === 0) return;
    const input: AssignPrivateIpAddressesCommandInput = {
      NetworkInterfaceId: networkInterfaceId,
      PrivateIpAddresses: ips,
      AllowReassignment: true,
    };
    if (this.skipInDryRun('AssignPrivateIpAddresses', input)) return;
    await this.client.send(new AssignPrivateIpAddressesCommand(input), this.call);
  }

  async moveElasticIp(
    allocationId: string,
    networkInterfaceId: string,
    privateIpAddress: string,
  ): Promise<void> {
    const input: AssociateAddressCommandInput = {
      AllocationId: allocationId,
      NetworkInterfaceId: networkInterfaceId,
      PrivateIpAddress: privateIpAddress,
      AllowReassociation: true,
    };
    await this.mutate('AssociateAddress', input, (sent) =>
      this.client.send(new AssociateAddressCommand(sent), this.call),
    );
  }

  /**
   * The account's snapshot of the volume tagged with the workflow of `tags` (`spot-handoff:workflow`),
   * or a new one so tagged. `CreateSnapshot` takes no ClientToken: this lookup is what makes a
   * retry find the snapshot of the first attempt. Snapshots in `error` are passed over; among the
   * others a `completed` one is preferred, then the oldest.
   *
   * Without a workflow tag the lookup matches any snapshot of the volume the account owns.
   */
  async snapshotFor(volumeId: string, tags: Record<string, string>): Promise<SnapshotFacts> {
    const workflowId = tags[WORKFLOW_TAG];
    const filters: Filter[] = [{ Name: 'volume-id', Values: [volumeId] }];
    if (workflowId !== undefined) filters.push({ Name: `tag:${WORKFLOW_TAG}`, Values: [workflowId] });
    const existing = (await this.#snapshots(filters))
      .filter((snapshot) => snapshot.State !== 'error')
      .sort(bestSnapshotFirst)[0];
    if (existing !== undefined) return toSnapshotFacts(existing, 'DescribeSnapshots');

    const tagList = toTagList(tags);
    const input: CreateSnapshotCommandInput = {
      VolumeId: volumeId,
      ...(tagList.length > 0 ? { TagSpecifications: [{ ResourceType: 'snapshot', Tags: tagList }] } : {}),
    };
    const sent = await this.mutate('CreateSnapshot', input, (request) =>
      this.client.send(new CreateSnapshotCommand(request), this.call),
    );
    if (sent.planned) {
      return {
        snapshotId: dryRunSnapshotId(volumeId, tags),
        volumeId,
        state: 'pending',
        tags: fromTagList(tagList),
      };
    }
    return withTagsSent(toSnapshotFacts(sent.output, 'CreateSnapshot'), tagList);
  }

  /** `CreateVolume` from the snapshot; the ClientToken makes a retry return the volume of the first call. */
  async restoreVolume(request: {
    snapshotId: string;
    availabilityZone: string;
    volumeType?: string;
    clientToken: string;
    tags: Record<string, string>;
  }): Promise<VolumeFacts> {
    const tagList = toTagList(request.tags);
    const input: CreateVolumeCommandInput = {
      SnapshotId: request.snapshotId,
      AvailabilityZone: request.availabilityZone,
      ClientToken: request.clientToken,
      ...(request.volumeType ? { VolumeType: request.volumeType as VolumeType } : {}),
      ...(tagList.length > 0 ? { TagSpecifications: [{ ResourceType: 'volume', Tags: tagList }] } : {}),
    };
    const sent = await this.mutate('CreateVolume', input, (sentInput) =>
      this.client.send(new CreateVolumeCommand(sentInput), this.call),
    );
    if (sent.planned) {
      return {
        volumeId: dryRunVolumeId(request.clientToken),
        state: 'creating',
        availabilityZone: request.availabilityZone,
        // The size comes from the snapshot; a dry run does not know it.
        size: 0,
        ...(request.volumeType ? { volumeType: request.volumeType } : {}),
        snapshotId: request.snapshotId,
        attachments: [],
        tags: fromTagList(tagList),
      };
    }
    return withTagsSent(toVolumeFacts(sent.output, 'CreateVolume'), tagList);
  }

  /** Filters on `vpc-id`, every page. */
  async subnetsOf(vpcId: string): Promise<SubnetFacts[]> {
    const subnets = await allPages(async (NextToken) => {
      const page = await this.client.send(
        new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }], NextToken }),
        this.call,
      );
      return { items: page.Subnets, nextToken: page.NextToken };
    });
    return subnets.map(toSubnetFacts);
  }

  async #keepAttachments(attachmentIds: string[]): Promise<void> {
    const interfaces = await byIds(attachmentIds, (batch) =>
      this.#interfaces([{ Name: 'attachment.attachment-id', Values: batch }]),
    );
    await Promise.all(
      interfaces.flatMap((networkInterface) => {
        const attachmentId = networkInterface.Attachment?.AttachmentId;
        const networkInterfaceId = networkInterface.NetworkInterfaceId;
        if (attachmentId === undefined || networkInterfaceId === undefined) return [];
        const input: ModifyNetworkInterfaceAttributeCommandInput = {
          NetworkInterfaceId: networkInterfaceId,
          Attachment: { AttachmentId: attachmentId, DeleteOnTermination: false },
        };
        return [
          this.mutate('ModifyNetworkInterfaceAttribute', input, (sent) =>
            this.client.send(new ModifyNetworkInterfaceAttributeCommand(sent), this.call),
          ).catch((error: unknown) => {
            // Detached between the lookup and the change: nothing left to keep.
            if (!isAttachmentNotFound(error)) throw error;
          }),
        ];
      }),
    );
  }

  #volumes(filters: Filter[]): Promise<Volume[]> {
    return allPages(async (NextToken) => {
      const page = await this.client.send(
        new DescribeVolumesCommand({ Filters: filters, NextToken }),
        this.call,
      );
      return { items: page.Volumes, nextToken: page.NextToken };
    });
  }

  #interfaces(filters: Filter[]): Promise<NetworkInterface[]> {
    return allPages(async (NextToken) => {
      const page = await this.client.send(
        new DescribeNetworkInterfacesCommand({ Filters: filters, NextToken }),
        this.call,
      );
      return { items: page.NetworkInterfaces, nextToken: page.NextToken };
    });
  }

  /** The account's own snapshots only: without `OwnerIds` EC2 searches every public snapshot too. */
  #snapshots(filters: Filter[]): Promise<Snapshot[]> {
    return allPages(async (NextToken) => {
      const page = await this.client.send(
        new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: filters, NextToken }),
        this.call,
      );
      return { items: page.Snapshots, nextToken: page.NextToken };
    });
  }
}

/** `completed` before `pending`, then the oldest: the snapshot the first attempt created. */
function bestSnapshotFirst(a: Snapshot, b: Snapshot): number {
  const rank = (snapshot: Snapshot) => (snapshot.State === 'completed' ? 0 : 1);
  return rank(a) - rank(b) || (a.StartTime?.getTime() ?? 0) - (b.StartTime?.getTime() ?? 0);
}
