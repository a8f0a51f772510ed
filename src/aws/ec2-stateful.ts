import { createHash } from 'node:crypto';
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
  type EC2Client,
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
  type VolumeType,
} from '@aws-sdk/client-ec2';
import { WORKFLOW_TAG } from '../config.ts';
import type {
  InterfaceFacts,
  InterfacePrivateIp,
  SnapshotFacts,
  StatefulResources,
  SubnetFacts,
  VolumeFacts,
} from '../core/ports.ts';
import { inBatches } from './batching.ts';
import { FILTER_VALUES_PER_CALL } from './ec2.ts';
import {
  isAttachmentNotFound,
  isDryRunSuccess,
  isIncorrectState,
  isInterfaceAttachConflict,
  isVolumeAttachConflict,
  UnexpectedResponseError,
} from './errors.ts';
import type { PlanLog } from './dry-run.ts';

/** `CreateTags` takes at most 1000 resource ids per call. */
export const TAG_RESOURCES_PER_CALL = 1000;

/** Attachment states in which a volume or interface is (or is about to be) on an instance. */
const ON_INSTANCE: ReadonlySet<string> = new Set(['attaching', 'attached']);

export interface Ec2StatefulResourcesOptions {
  /** One client per container, built at cold start. */
  client: EC2Client;
  /**
   * Mutations go with `DryRun: true`: nothing changes, the plan records what would. Reads are real.
   * `AssignPrivateIpAddresses` has no `DryRun`: it is not sent, and planned as `skipped`.
   */
  dryRun?: boolean;
  plan?: PlanLog;
  /** Aborts calls in flight, e.g. shortly before the Lambda timeout. */
  abortSignal?: AbortSignal;
}

/** What a mutating call came to: EC2's answer, or in a dry run `planned` (it would have succeeded). */
type Sent<O> = { planned: false; output: O } | { planned: true };

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
export class Ec2StatefulResources implements StatefulResources {
  readonly #client: EC2Client;
  readonly #dryRun: boolean;
  readonly #plan: PlanLog | undefined;
  readonly #abortSignal: AbortSignal | undefined;

  constructor(options: Ec2StatefulResourcesOptions) {
    this.#client = options.client;
    this.#dryRun = options.dryRun ?? false;
    this.#plan = options.plan;
    this.#abortSignal = options.abortSignal;
  }

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
        this.#mutate('ModifyInstanceAttribute', input, (sent) =>
          this.#client.send(new ModifyInstanceAttributeCommand(sent), { abortSignal: this.#abortSignal }),
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
        return this.#mutate('CreateTags', input, (sent) =>
          this.#client.send(new CreateTagsCommand(sent), { abortSignal: this.#abortSignal }),
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
      await this.#mutate('AttachVolume', input, (sent) =>
        this.#client.send(new AttachVolumeCommand(sent), { abortSignal: this.#abortSignal }),
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
      await this.#mutate('DetachVolume', input, (sent) =>
        this.#client.send(new DetachVolumeCommand(sent), { abortSignal: this.#abortSignal }),
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
      await this.#mutate('AttachNetworkInterface', input, (sent) =>
        this.#client.send(new AttachNetworkInterfaceCommand(sent), { abortSignal: this.#abortSignal }),
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
      await this.#mutate('DetachNetworkInterface', input, (sent) =>
        this.#client.send(new DetachNetworkInterfaceCommand(sent), { abortSignal: this.#abortSignal }),
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
    if (this.#dryRun) {
      this.#plan?.record({
        service: 'ec2',
        action: 'AssignPrivateIpAddresses',
        params: input,
        outcome: 'skipped',
      });
      return;
    }
    await this.#client.send(new AssignPrivateIpAddressesCommand(input), { abortSignal: this.#abortSignal });
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
    await this.#mutate('AssociateAddress', input, (sent) =>
      this.#client.send(new AssociateAddressCommand(sent), { abortSignal: this.#abortSignal }),
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
    const sent = await this.#mutate('CreateSnapshot', input, (request) =>
      this.#client.send(new CreateSnapshotCommand(request), { abortSignal: this.#abortSignal }),
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
    const sent = await this.#mutate('CreateVolume', input, (sentInput) =>
      this.#client.send(new CreateVolumeCommand(sentInput), { abortSignal: this.#abortSignal }),
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
      const page = await this.#client.send(
        new DescribeSubnetsCommand({ Filters: [{ Name: 'vpc-id', Values: [vpcId] }], NextToken }),
        { abortSignal: this.#abortSignal },
      );
      return { items: page.Subnets, nextToken: page.NextToken };
    });
    return subnets.map(toSubnetFacts);
  }

  /**
   * Sends a mutation. In a dry run it goes with `DryRun: true`: `DryRunOperation` means it would
   * succeed, which the plan records; any other error is thrown as is. `I` must be an input with a
   * `DryRun` member: the SDK drops members the action does not have, so a `DryRun` it does not know
   * would act for real.
   */
  async #mutate<I extends { DryRun?: boolean | undefined }, O>(
    action: string,
    input: I,
    send: (input: I) => Promise<O>,
  ): Promise<Sent<O>> {
    if (!this.#dryRun) return { planned: false, output: await send(input) };
    try {
      await send({ ...input, DryRun: true });
    } catch (error) {
      if (!isDryRunSuccess(error)) throw error;
      this.#plan?.record({ service: 'ec2', action, params: input, outcome: 'would-succeed' });
      return { planned: true };
    }
    throw new UnexpectedResponseError(
      `${action} with DryRun succeeded instead of answering DryRunOperation.`,
    );
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
          this.#mutate('ModifyNetworkInterfaceAttribute', input, (sent) =>
            this.#client.send(new ModifyNetworkInterfaceAttributeCommand(sent), {
              abortSignal: this.#abortSignal,
            }),
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
      const page = await this.#client.send(new DescribeVolumesCommand({ Filters: filters, NextToken }), {
        abortSignal: this.#abortSignal,
      });
      return { items: page.Volumes, nextToken: page.NextToken };
    });
  }

  #interfaces(filters: Filter[]): Promise<NetworkInterface[]> {
    return allPages(async (NextToken) => {
      const page = await this.#client.send(
        new DescribeNetworkInterfacesCommand({ Filters: filters, NextToken }),
        { abortSignal: this.#abortSignal },
      );
      return { items: page.NetworkInterfaces, nextToken: page.NextToken };
    });
  }

  /** The account's own snapshots only: without `OwnerIds` EC2 searches every public snapshot too. */
  #snapshots(filters: Filter[]): Promise<Snapshot[]> {
    return allPages(async (NextToken) => {
      const page = await this.#client.send(
        new DescribeSnapshotsCommand({ OwnerIds: ['self'], Filters: filters, NextToken }),
        { abortSignal: this.#abortSignal },
      );
      return { items: page.Snapshots, nextToken: page.NextToken };
    });
  }
}

/**
 * The snapshot id a dry-run `snapshotFor` reports: `snap-dryrun` and 9 hex digits of a hash of the
 * volume and tags, so the same request always gives the same id and no real snapshot id looks like it.
 */
export function dryRunSnapshotId(volumeId: string, tags: Record<string, string>): string {
  const sortedTags = Object.entries(tags).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `snap-dryrun${shortHash(JSON.stringify([volumeId, sortedTags]))}`;
}

/** The volume id a dry-run `restoreVolume` reports: `vol-dryrun` and 9 hex digits of the token's hash. */
export function dryRunVolumeId(clientToken: string): string {
  return `vol-dryrun${shortHash(clientToken)}`;
}

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 9);
}

/** Every item of every page: `fetchPage` is called with the previous page's token until there is none. */
async function allPages<T>(
  fetchPage: (
    nextToken: string | undefined,
  ) => Promise<{ items: T[] | undefined; nextToken: string | undefined }>,
): Promise<T[]> {
  const items: T[] = [];
  let nextToken: string | undefined;
  do {
    const page = await fetchPage(nextToken);
    items.push(...(page.items ?? []));
    nextToken = page.nextToken || undefined;
  } while (nextToken !== undefined);
  return items;
}

/** `describe` over the distinct ids, at most one filter's worth (200) per call; no call for no ids. */
async function byIds<T>(ids: readonly string[], describe: (batch: string[]) => Promise<T[]>): Promise<T[]> {
  const distinct = [...new Set(ids)];
  if (distinct.length === 0) return [];
  const batches = await Promise.all(inBatches(distinct, FILTER_VALUES_PER_CALL).map(describe));
  return batches.flat();
}

/** EC2 rejects tags with the reserved `aws:` prefix. */
function toTagList(tags: Record<string, string>): Tag[] {
  return Object.entries(tags)
    .filter(([key]) => !key.startsWith('aws:'))
    .map(([Key, Value]) => ({ Key, Value }));
}

function fromTagList(tags: readonly Tag[] | undefined): Record<string, string> {
  const record: Record<string, string> = {};
  for (const tag of tags ?? []) if (tag.Key !== undefined) record[tag.Key] = tag.Value ?? '';
  return record;
}

/** The facts of a created resource, with the tags it was created with if EC2's answer leaves them out. */
function withTagsSent<F extends { tags: Record<string, string> }>(facts: F, sent: readonly Tag[]): F {
  return Object.keys(facts.tags).length > 0 ? facts : { ...facts, tags: fromTagList(sent) };
}

function required<T>(value: T | undefined, what: string, action: string, id: string | undefined): T {
  if (value === undefined || value === '') {
    throw new UnexpectedResponseError(`${action} returned ${id ?? 'a resource'} without ${what}.`);
  }
  return value;
}

/** `completed` before `pending`, then the oldest: the snapshot the first attempt created. */
function bestSnapshotFirst(a: Snapshot, b: Snapshot): number {
  const rank = (snapshot: Snapshot) => (snapshot.State === 'completed' ? 0 : 1);
  return rank(a) - rank(b) || (a.StartTime?.getTime() ?? 0) - (b.StartTime?.getTime() ?? 0);
}

function toVolumeFacts(volume: Volume, action = 'DescribeVolumes'): VolumeFacts {
  const volumeId = required(volume.VolumeId, 'a VolumeId', action, undefined);
  return {
    volumeId,
    state: required(volume.State, 'a State', action, volumeId),
    availabilityZone: required(volume.AvailabilityZone, 'an AvailabilityZone', action, volumeId),
    size: volume.Size ?? 0,
    ...(volume.VolumeType ? { volumeType: volume.VolumeType } : {}),
    ...(volume.SnapshotId ? { snapshotId: volume.SnapshotId } : {}),
    attachments: (volume.Attachments ?? []).flatMap((attachment) =>
      attachment.InstanceId === undefined
        ? []
        : [
            {
              instanceId: attachment.InstanceId,
              device: attachment.Device ?? '',
              state: attachment.State ?? '',
              deleteOnTermination: attachment.DeleteOnTermination ?? false,
            },
          ],
    ),
    tags: fromTagList(volume.Tags),
  };
}

function toInterfaceFacts(networkInterface: NetworkInterface): InterfaceFacts {
  const action = 'DescribeNetworkInterfaces';
  const networkInterfaceId = required(
    networkInterface.NetworkInterfaceId,
    'a NetworkInterfaceId',
    action,
    undefined,
  );
  const attachment = networkInterface.Attachment;
  const privateIps: InterfacePrivateIp[] = [];
  for (const address of networkInterface.PrivateIpAddresses ?? []) {
    if (address.PrivateIpAddress === undefined) continue;
    // Only an Elastic IP has an allocation; a public IP Amazon assigned at launch has none.
    const association = address.Association;
    const elasticIp =
      association?.PublicIp && association.AllocationId
        ? {
            publicIp: association.PublicIp,
            allocationId: association.AllocationId,
            ...(association.AssociationId ? { associationId: association.AssociationId } : {}),
          }
        : undefined;
    privateIps.push({
      privateIpAddress: address.PrivateIpAddress,
      primary: address.Primary ?? false,
      ...(elasticIp ? { elasticIp } : {}),
    });
  }
  return {
    networkInterfaceId,
    status: required(networkInterface.Status, 'a Status', action, networkInterfaceId),
    subnetId: required(networkInterface.SubnetId, 'a SubnetId', action, networkInterfaceId),
    availabilityZone: required(
      networkInterface.AvailabilityZone,
      'an AvailabilityZone',
      action,
      networkInterfaceId,
    ),
    ...(attachment?.AttachmentId
      ? {
          attachment: {
            attachmentId: attachment.AttachmentId,
            ...(attachment.InstanceId ? { instanceId: attachment.InstanceId } : {}),
            deviceIndex: attachment.DeviceIndex ?? 0,
            status: attachment.Status ?? '',
            deleteOnTermination: attachment.DeleteOnTermination ?? false,
          },
        }
      : {}),
    privateIps,
    tags: fromTagList(networkInterface.TagSet),
  };
}

function toSnapshotFacts(snapshot: Snapshot, action: string): SnapshotFacts {
  const snapshotId = required(snapshot.SnapshotId, 'a SnapshotId', action, undefined);
  return {
    snapshotId,
    volumeId: required(snapshot.VolumeId, 'a VolumeId', action, snapshotId),
    state: required(snapshot.State, 'a State', action, snapshotId),
    tags: fromTagList(snapshot.Tags),
  };
}

function toSubnetFacts(subnet: Subnet): SubnetFacts {
  const subnetId = required(subnet.SubnetId, 'a SubnetId', 'DescribeSubnets', undefined);
  return {
    subnetId,
    vpcId: required(subnet.VpcId, 'a VpcId', 'DescribeSubnets', subnetId),
    availabilityZone: required(subnet.AvailabilityZone, 'an AvailabilityZone', 'DescribeSubnets', subnetId),
  };
}
