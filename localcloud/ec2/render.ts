import { list, type XmlObject } from '../xml.ts';
import { privateDnsName, publicDnsName } from './ipv4.ts';
import {
  type Address,
  type Instance,
  type LaunchData,
  type LaunchTemplate,
  type LaunchTemplateVersion,
  type NetworkInterface,
  type Snapshot,
  STATE_CODES,
  type Subnet,
  type Tags,
  type Volume,
  type Vpc,
} from './model.ts';
import type { Ec2State } from './state.ts';

/** Resources rendered as EC2's XML shapes (element names as in the EC2 API reference). */

export function tagSet(tags: Tags): XmlObject[] {
  return [...tags].map(([key, value]) => ({ key, value }));
}

/** Security groups are not modelled: only a VPC's own `default` group has a known name. */
function groupSet(state: Ec2State, vpcId: string, groupIds: readonly string[]): XmlObject[] {
  const defaultGroup = state.vpcs.get(vpcId)?.defaultSecurityGroupId;
  return groupIds.map((groupId) => ({
    groupId,
    groupName: groupId === defaultGroup ? 'default' : undefined,
  }));
}

/** The `association` of a private IP that has an Elastic IP. */
function ipAssociation(state: Ec2State, eni: NetworkInterface, privateIp: string, withIds: boolean) {
  const address = state.addressOn(eni.networkInterfaceId, privateIp);
  if (!address) {
    const instance = state.instanceOf(eni);
    const primaryIp = eni.privateIps.find((ip) => ip.primary)?.address;
    if (!instance?.publicIp || eni.attachment?.deviceIndex !== 0 || primaryIp !== privateIp) return undefined;
    return {
      publicIp: instance.publicIp,
      publicDnsName: publicDnsName(instance.publicIp, state.region),
      ipOwnerId: 'amazon',
    };
  }
  return {
    ...(withIds
      ? { allocationId: address.allocationId, associationId: address.association?.associationId }
      : undefined),
    publicIp: address.publicIp,
    publicDnsName: publicDnsName(address.publicIp, state.region),
    ipOwnerId: state.accountId,
  };
}

function instanceInterface(state: Ec2State, eni: NetworkInterface): XmlObject {
  const attachment = eni.attachment!;
  const primaryIp = eni.privateIps.find((ip) => ip.primary)!.address;
  return {
    networkInterfaceId: eni.networkInterfaceId,
    subnetId: eni.subnetId,
    vpcId: eni.vpcId,
    description: eni.description,
    ownerId: state.accountId,
    status: eni.status,
    macAddress: eni.macAddress,
    privateIpAddress: primaryIp,
    privateDnsName: privateDnsName(primaryIp, state.region),
    sourceDestCheck: eni.sourceDestCheck,
    groupSet: groupSet(state, eni.vpcId, eni.securityGroupIds),
    attachment: {
      attachmentId: attachment.attachmentId,
      deviceIndex: attachment.deviceIndex,
      networkCardIndex: 0,
      status: attachment.status,
      attachTime: attachment.attachTime,
      deleteOnTermination: attachment.deleteOnTermination,
    },
    association: ipAssociation(state, eni, primaryIp, false),
    privateIpAddressesSet: eni.privateIps.map((ip) => ({
      privateIpAddress: ip.address,
      privateDnsName: privateDnsName(ip.address, state.region),
      primary: ip.primary,
      association: ipAssociation(state, eni, ip.address, false),
    })),
    ipv6AddressesSet: [],
    interfaceType: 'interface',
  };
}

export function renderInstance(state: Ec2State, instance: Instance): XmlObject {
  const gone = instance.state === 'terminated';
  const interfaces = gone ? [] : state.interfacesOf(instance.instanceId);
  const primary = interfaces.find((eni) => eni.attachment?.deviceIndex === 0);
  const primaryIp = primary?.privateIps.find((ip) => ip.primary)?.address;
  const publicAddress =
    primary && primaryIp ? state.addressOn(primary.networkInterfaceId, primaryIp) : undefined;
  const publicIp = publicAddress?.publicIp ?? instance.publicIp;
  const volumes = gone ? [] : state.volumesOf(instance.instanceId);
  return {
    instanceId: instance.instanceId,
    imageId: instance.imageId,
    instanceState: { code: STATE_CODES[instance.state], name: instance.state },
    privateDnsName: primaryIp ? privateDnsName(primaryIp, state.region) : '',
    dnsName: publicIp ? publicDnsName(publicIp, state.region) : '',
    reason: instance.stateTransitionReason,
    keyName: instance.keyName,
    amiLaunchIndex: instance.amiLaunchIndex,
    productCodes: [],
    instanceType: instance.instanceType,
    launchTime: instance.launchTime,
    placement: { availabilityZone: instance.availabilityZone, groupName: '', tenancy: 'default' },
    monitoring: { state: 'disabled' },
    subnetId: gone ? undefined : instance.subnetId,
    vpcId: gone ? undefined : instance.vpcId,
    privateIpAddress: primaryIp,
    ipAddress: publicIp,
    sourceDestCheck: primary?.sourceDestCheck,
    groupSet: gone ? [] : groupSet(state, instance.vpcId, instance.securityGroupIds),
    stateReason: instance.stateReason,
    architecture: 'x86_64',
    rootDeviceType: 'ebs',
    rootDeviceName: instance.rootDeviceName,
    blockDeviceMapping: volumes.map((volume) => ({
      deviceName: volume.attachment!.device,
      ebs: {
        volumeId: volume.volumeId,
        status: volume.attachment!.state,
        attachTime: volume.attachment!.attachTime,
        deleteOnTermination: volume.attachment!.deleteOnTermination,
      },
    })),
    instanceLifecycle: instance.spot ? 'spot' : undefined,
    spotInstanceRequestId: instance.spot?.requestId,
    virtualizationType: 'hvm',
    clientToken: instance.clientToken,
    tagSet: tagSet(instance.tags),
    hypervisor: 'xen',
    networkInterfaceSet: interfaces.map((eni) => instanceInterface(state, eni)),
    ebsOptimized: false,
    enaSupport: true,
    metadataOptions: {
      state: 'applied',
      httpTokens: 'required',
      httpPutResponseHopLimit: 2,
      httpEndpoint: 'enabled',
    },
    bootMode: 'uefi-preferred',
    platformDetails: 'Linux/UNIX',
    usageOperation: 'RunInstances',
    usageOperationUpdateTime: instance.launchTime,
    currentInstanceBootMode: 'legacy-bios',
  };
}

export function renderReservation(
  state: Ec2State,
  reservationId: string,
  instances: readonly Instance[],
): XmlObject {
  return {
    reservationId,
    ownerId: state.accountId,
    groupSet: [],
    instancesSet: instances.map((instance) => renderInstance(state, instance)),
  };
}

export function renderVolume(state: Ec2State, volume: Volume): XmlObject {
  return {
    volumeId: volume.volumeId,
    size: volume.size,
    snapshotId: volume.snapshotId ?? '',
    availabilityZone: volume.availabilityZone,
    status: volume.state,
    createTime: volume.createTime,
    attachmentSet: volume.attachment ? [renderVolumeAttachment(volume)] : [],
    tagSet: tagSet(volume.tags),
    volumeType: volume.volumeType,
    iops: volume.iops,
    throughput: volume.throughput,
    encrypted: volume.encrypted,
    multiAttachEnabled: false,
    ownerId: state.accountId,
  };
}

export function renderVolumeAttachment(volume: Volume): XmlObject {
  const attachment = volume.attachment!;
  return {
    volumeId: volume.volumeId,
    instanceId: attachment.instanceId,
    device: attachment.device,
    status: attachment.state,
    attachTime: attachment.attachTime,
    deleteOnTermination: attachment.deleteOnTermination,
  };
}

export function renderSnapshot(state: Ec2State, snapshot: Snapshot): XmlObject {
  return {
    snapshotId: snapshot.snapshotId,
    volumeId: snapshot.volumeId,
    status: snapshot.state,
    startTime: snapshot.startTime,
    completionTime: snapshot.completionTime,
    progress: snapshot.state === 'completed' ? '100%' : '0%',
    ownerId: state.accountId,
    volumeSize: snapshot.volumeSize,
    description: snapshot.description,
    encrypted: snapshot.encrypted,
    storageTier: 'standard',
    tagSet: tagSet(snapshot.tags),
  };
}

export function renderInterface(state: Ec2State, eni: NetworkInterface): XmlObject {
  const primaryIp = eni.privateIps.find((ip) => ip.primary)!.address;
  const attachment = eni.attachment;
  return {
    networkInterfaceId: eni.networkInterfaceId,
    subnetId: eni.subnetId,
    vpcId: eni.vpcId,
    availabilityZone: eni.availabilityZone,
    description: eni.description,
    ownerId: state.accountId,
    requesterManaged: false,
    status: eni.status,
    macAddress: eni.macAddress,
    privateIpAddress: primaryIp,
    privateDnsName: privateDnsName(primaryIp, state.region),
    sourceDestCheck: eni.sourceDestCheck,
    groupSet: groupSet(state, eni.vpcId, eni.securityGroupIds),
    attachment: attachment && {
      attachmentId: attachment.attachmentId,
      instanceId: attachment.instanceId,
      instanceOwnerId: state.accountId,
      deviceIndex: attachment.deviceIndex,
      networkCardIndex: 0,
      status: attachment.status,
      attachTime: attachment.attachTime,
      deleteOnTermination: attachment.deleteOnTermination,
    },
    association: ipAssociation(state, eni, primaryIp, true),
    tagSet: tagSet(eni.tags),
    privateIpAddressesSet: eni.privateIps.map((ip) => ({
      privateIpAddress: ip.address,
      privateDnsName: privateDnsName(ip.address, state.region),
      primary: ip.primary,
      association: ipAssociation(state, eni, ip.address, true),
    })),
    ipv6AddressesSet: [],
    interfaceType: 'interface',
  };
}

export function renderAddress(state: Ec2State, address: Address): XmlObject {
  const association = address.association;
  const eni = association ? state.interfaces.get(association.networkInterfaceId) : undefined;
  return {
    publicIp: address.publicIp,
    allocationId: address.allocationId,
    domain: 'vpc',
    instanceId: eni?.attachment?.instanceId,
    associationId: association?.associationId,
    networkInterfaceId: association?.networkInterfaceId,
    networkInterfaceOwnerId: association ? state.accountId : undefined,
    privateIpAddress: association?.privateIpAddress,
    tagSet: tagSet(address.tags),
    publicIpv4Pool: 'amazon',
    networkBorderGroup: state.region,
  };
}

export function renderVpc(state: Ec2State, vpc: Vpc): XmlObject {
  return {
    vpcId: vpc.vpcId,
    ownerId: state.accountId,
    state: 'available',
    cidrBlock: vpc.cidrBlock,
    cidrBlockAssociationSet: [
      {
        cidrBlock: vpc.cidrBlock,
        associationId: vpc.cidrAssociationId,
        cidrBlockState: { state: 'associated' },
      },
    ],
    dhcpOptionsId: vpc.dhcpOptionsId,
    tagSet: tagSet(vpc.tags),
    instanceTenancy: 'default',
    isDefault: vpc.isDefault,
  };
}

export function renderSubnet(state: Ec2State, subnet: Subnet): XmlObject {
  return {
    subnetId: subnet.subnetId,
    subnetArn: `arn:aws:ec2:${state.region}:${state.accountId}:subnet/${subnet.subnetId}`,
    state: 'available',
    ownerId: state.accountId,
    vpcId: subnet.vpcId,
    cidrBlock: subnet.cidrBlock,
    availableIpAddressCount: state.availableIpCount(subnet),
    availabilityZone: subnet.availabilityZone,
    availabilityZoneId: zoneId(state.region, subnet.availabilityZone),
    defaultForAz: subnet.defaultForAz,
    mapPublicIpOnLaunch: subnet.mapPublicIpOnLaunch,
    tagSet: tagSet(subnet.tags),
  };
}

const DIRECTIONS: Record<string, string> = {
  north: 'n',
  south: 's',
  east: 'e',
  west: 'w',
  central: 'c',
  northeast: 'ne',
  northwest: 'nw',
  southeast: 'se',
  southwest: 'sw',
};

/** `us-east-1a` → `use1-az1` (AZ ids are fixed per physical zone; this mapping is illustrative). */
export function zoneId(region: string, zone: string): string {
  const [area = '', direction = '', number = ''] = region.split('-');
  const letter = zone.slice(region.length);
  return `${area}${DIRECTIONS[direction] ?? direction.slice(0, 1)}${number}-az${letter.charCodeAt(0) - 96}`;
}

export function renderLaunchTemplate(template: LaunchTemplate, accountId: string): XmlObject {
  return {
    launchTemplateId: template.launchTemplateId,
    launchTemplateName: template.launchTemplateName,
    createTime: template.createTime,
    createdBy: `arn:aws:iam::${accountId}:root`,
    defaultVersionNumber: template.defaultVersion,
    latestVersionNumber: template.versions.at(-1)!.versionNumber,
    tagSet: tagSet(template.tags),
  };
}

function renderLaunchData(data: LaunchData): XmlObject {
  return {
    imageId: data.imageId,
    instanceType: data.instanceType,
    keyName: data.keyName,
    userData: data.userData,
    disableApiTermination: data.disableApiTermination,
    iamInstanceProfile: data.iamInstanceProfile,
    placement: data.availabilityZone ? { availabilityZone: data.availabilityZone } : undefined,
    securityGroupIdSet: data.securityGroupIds.length ? data.securityGroupIds : undefined,
    instanceMarketOptions: data.marketType
      ? {
          marketType: data.marketType,
          spotOptions: data.spotOptions && {
            maxPrice: data.spotOptions.maxPrice,
            spotInstanceType: data.spotOptions.spotInstanceType,
            instanceInterruptionBehavior: data.spotOptions.instanceInterruptionBehavior,
          },
        }
      : undefined,
    tagSpecificationSet: data.tagSpecifications.length
      ? data.tagSpecifications.map((spec) => ({
          resourceType: spec.resourceType,
          tagSet: spec.tags.map(([key, value]) => ({ key, value })),
        }))
      : undefined,
    blockDeviceMappingSet: data.blockDeviceMappings.length
      ? data.blockDeviceMappings.map((mapping) => ({
          deviceName: mapping.deviceName,
          virtualName: mapping.virtualName,
          noDevice: mapping.noDevice ? '' : undefined,
          ebs: mapping.ebs && {
            deleteOnTermination: mapping.ebs.deleteOnTermination,
            encrypted: mapping.ebs.encrypted,
            iops: mapping.ebs.iops,
            snapshotId: mapping.ebs.snapshotId,
            volumeSize: mapping.ebs.volumeSize,
            volumeType: mapping.ebs.volumeType,
          },
        }))
      : undefined,
    networkInterfaceSet: data.networkInterfaces.length
      ? data.networkInterfaces.map((spec) => ({
          associatePublicIpAddress: spec.associatePublicIpAddress,
          deleteOnTermination: spec.deleteOnTermination,
          description: spec.description,
          deviceIndex: spec.deviceIndex,
          groupSet: spec.groups.length ? list('groupId', spec.groups) : undefined,
          networkInterfaceId: spec.networkInterfaceId,
          privateIpAddress: spec.privateIpAddress,
          secondaryPrivateIpAddressCount: spec.secondaryPrivateIpAddressCount,
          subnetId: spec.subnetId,
        }))
      : undefined,
  };
}

export function renderLaunchTemplateVersion(
  template: LaunchTemplate,
  version: LaunchTemplateVersion,
  accountId: string,
): XmlObject {
  return {
    launchTemplateId: template.launchTemplateId,
    launchTemplateName: template.launchTemplateName,
    versionNumber: version.versionNumber,
    versionDescription: version.description,
    createTime: version.createTime,
    createdBy: `arn:aws:iam::${accountId}:root`,
    defaultVersion: version.versionNumber === template.defaultVersion,
    launchTemplateData: renderLaunchData(version.data),
  };
}
