import type {
  Instance,
  InstanceNetworkInterface,
  InstancePrivateIpAddress,
  NetworkInterface,
  NetworkInterfacePrivateIpAddress,
  Snapshot,
  Subnet,
  Tag,
  Volume,
} from '@aws-sdk/client-ec2';
import type {
  AttachedInterface,
  AttachedVolume,
  InstanceFacts,
  InstanceState,
  InterfaceFacts,
  InterfacePrivateIp,
  SnapshotFacts,
  SubnetFacts,
  VolumeFacts,
} from '../core/ports.ts';
import { fromTagList, required } from './ec2-base.ts';
import { UnexpectedResponseError } from './errors.ts';

/**
 * What EC2 answers, translated into the facts of the core's ports. Every function here is pure:
 * the adapters make the calls, these read the answers.
 */

const LAUNCH_TEMPLATE_ID_TAG = 'aws:ec2launchtemplate:id';
const LAUNCH_TEMPLATE_VERSION_TAG = 'aws:ec2launchtemplate:version';
/** `IpOwnerId` of a public IP that Amazon assigned at launch; an Elastic IP is owned by an account. */
const AMAZON_OWNED = 'amazon';

const INSTANCE_STATES: ReadonlySet<string> = new Set<InstanceState>([
  'pending',
  'running',
  'stopping',
  'stopped',
  'shutting-down',
  'terminated',
]);
const LIFECYCLES: ReadonlySet<string> = new Set(['spot', 'scheduled', 'capacity-block']);

/** An Elastic IP's allocation and association, as `DescribeAddresses` tells them. */
export type ElasticIpAllocation = Omit<NonNullable<InterfacePrivateIp['elasticIp']>, 'publicIp'>;

/** The public IPs on the instances' interfaces that an account owns: the ones that may be Elastic IPs. */
export function accountOwnedPublicIps(instances: readonly Instance[]): Set<string> {
  const publicIps = new Set<string>();
  for (const instance of instances) {
    for (const networkInterface of instance.NetworkInterfaces ?? []) {
      for (const address of networkInterface.PrivateIpAddresses ?? []) {
        const association = address.Association;
        if (association?.PublicIp && association.IpOwnerId !== AMAZON_OWNED)
          publicIps.add(association.PublicIp);
      }
    }
  }
  return publicIps;
}

/** `elasticIps`: the allocation of each Elastic IP on the instance, by public IP. */
export function toInstanceFacts(
  instance: Instance,
  elasticIps: ReadonlyMap<string, ElasticIpAllocation>,
): InstanceFacts {
  const action = 'DescribeInstances';
  const instanceId = required(instance.InstanceId, 'an InstanceId', action, undefined);
  const state = required(instance.State?.Name, 'a State', action, instanceId);
  if (!INSTANCE_STATES.has(state)) {
    throw new UnexpectedResponseError(`${action} returned ${instanceId} in unknown state ${state}.`);
  }
  const tags = fromTagList(instance.Tags);
  const templateId = tags[LAUNCH_TEMPLATE_ID_TAG];
  const templateVersion = tags[LAUNCH_TEMPLATE_VERSION_TAG];
  const lifecycle = instance.InstanceLifecycle;

  return {
    instanceId,
    state: state as InstanceState,
    ...(instance.StateReason?.Code ? { stateReason: instance.StateReason.Code } : {}),
    instanceType: required(instance.InstanceType, 'an InstanceType', action, instanceId),
    availabilityZone: required(
      instance.Placement?.AvailabilityZone,
      'an AvailabilityZone',
      action,
      instanceId,
    ),
    ...(instance.SubnetId ? { subnetId: instance.SubnetId } : {}),
    ...(instance.VpcId ? { vpcId: instance.VpcId } : {}),
    ...(instance.PrivateIpAddress ? { privateIpAddress: instance.PrivateIpAddress } : {}),
    ...(lifecycle !== undefined && LIFECYCLES.has(lifecycle)
      ? { lifecycle: lifecycle as NonNullable<InstanceFacts['lifecycle']> }
      : {}),
    ...(templateId && templateVersion
      ? { launchTemplate: { id: templateId, version: templateVersion } }
      : {}),
    ...(instance.ClientToken ? { clientToken: instance.ClientToken } : {}),
    ...(instance.LaunchTime ? { launchTime: instance.LaunchTime.toISOString() } : {}),
    ...(instance.RootDeviceName ? { rootDeviceName: instance.RootDeviceName } : {}),
    tags,
    volumes: toAttachedVolumes(instance),
    networkInterfaces: (instance.NetworkInterfaces ?? [])
      .flatMap((networkInterface) => toAttachedInterface(networkInterface, elasticIps))
      .sort((a, b) => a.deviceIndex - b.deviceIndex),
  };
}

function toAttachedVolumes(instance: Instance): AttachedVolume[] {
  const volumes: AttachedVolume[] = [];
  for (const mapping of instance.BlockDeviceMappings ?? []) {
    const ebs = mapping.Ebs;
    if (ebs?.VolumeId === undefined) continue;
    volumes.push({
      volumeId: ebs.VolumeId,
      deviceName: mapping.DeviceName ?? '',
      deleteOnTermination: ebs.DeleteOnTermination ?? false,
      status: ebs.Status ?? '',
    });
  }
  return volumes;
}

/** The interface as the port describes it, or nothing for an interface without id or attachment. */
function toAttachedInterface(
  networkInterface: InstanceNetworkInterface,
  elasticIps: ReadonlyMap<string, ElasticIpAllocation>,
): AttachedInterface[] {
  const attachment = networkInterface.Attachment;
  if (networkInterface.NetworkInterfaceId === undefined || attachment?.AttachmentId === undefined) return [];
  return [
    {
      networkInterfaceId: networkInterface.NetworkInterfaceId,
      deviceIndex: attachment.DeviceIndex ?? 0,
      attachmentId: attachment.AttachmentId,
      deleteOnTermination: attachment.DeleteOnTermination ?? false,
      subnetId: networkInterface.SubnetId ?? '',
      status: attachment.Status ?? '',
      privateIps: toPrivateIps(networkInterface.PrivateIpAddresses, (publicIp) => elasticIps.get(publicIp)),
    },
  ];
}

/**
 * The private IPs of an interface, each with the Elastic IP associated with it. `allocationOf`
 * tells whether a public IP is an Elastic IP (an IP Amazon assigned at launch has no allocation).
 */
function toPrivateIps(
  addresses: readonly (InstancePrivateIpAddress | NetworkInterfacePrivateIpAddress)[] | undefined,
  allocationOf: (
    publicIp: string,
    association: NonNullable<NetworkInterfacePrivateIpAddress['Association']>,
  ) => ElasticIpAllocation | undefined,
): InterfacePrivateIp[] {
  const privateIps: InterfacePrivateIp[] = [];
  for (const address of addresses ?? []) {
    if (address.PrivateIpAddress === undefined) continue;
    const association = address.Association;
    const publicIp = association?.PublicIp;
    const allocation = publicIp ? allocationOf(publicIp, association) : undefined;
    privateIps.push({
      privateIpAddress: address.PrivateIpAddress,
      primary: address.Primary ?? false,
      ...(publicIp && allocation ? { elasticIp: { publicIp, ...allocation } } : {}),
    });
  }
  return privateIps;
}

export function toVolumeFacts(volume: Volume, action = 'DescribeVolumes'): VolumeFacts {
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

export function toInterfaceFacts(networkInterface: NetworkInterface): InterfaceFacts {
  const action = 'DescribeNetworkInterfaces';
  const networkInterfaceId = required(
    networkInterface.NetworkInterfaceId,
    'a NetworkInterfaceId',
    action,
    undefined,
  );
  const attachment = networkInterface.Attachment;
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
    // The interface's own answer names the allocation of an Elastic IP.
    privateIps: toPrivateIps(networkInterface.PrivateIpAddresses, (_publicIp, association) =>
      association.AllocationId
        ? {
            allocationId: association.AllocationId,
            ...(association.AssociationId ? { associationId: association.AssociationId } : {}),
          }
        : undefined,
    ),
    tags: fromTagList(networkInterface.TagSet),
  };
}

export function toSnapshotFacts(snapshot: Snapshot, action: string): SnapshotFacts {
  const snapshotId = required(snapshot.SnapshotId, 'a SnapshotId', action, undefined);
  return {
    snapshotId,
    volumeId: required(snapshot.VolumeId, 'a VolumeId', action, snapshotId),
    state: required(snapshot.State, 'a State', action, snapshotId),
    tags: fromTagList(snapshot.Tags),
  };
}

export function toSubnetFacts(subnet: Subnet): SubnetFacts {
  const action = 'DescribeSubnets';
  const subnetId = required(subnet.SubnetId, 'a SubnetId', action, undefined);
  return {
    subnetId,
    vpcId: required(subnet.VpcId, 'a VpcId', action, subnetId),
    availabilityZone: required(subnet.AvailabilityZone, 'an AvailabilityZone', action, subnetId),
  };
}

/** The facts of a created resource, with the tags it was created with if EC2's answer leaves them out. */
export function withTagsSent<F extends { tags: Record<string, string> }>(facts: F, sent: readonly Tag[]): F {
  return Object.keys(facts.tags).length > 0 ? facts : { ...facts, tags: fromTagList(sent) };
}
