import type { InstanceStateName, Tags } from './model.ts';
import type { Ec2State } from './state.ts';

/**
 * Read-only views of EC2's state for tests and the demo: plain, detached copies (changing them
 * changes nothing), in creation order.
 */

export interface InstanceView {
  instanceId: string;
  state: InstanceStateName;
  stateReason?: string;
  instanceType: string;
  availabilityZone: string;
  subnetId: string;
  vpcId: string;
  privateIpAddress?: string;
  /** Every private IP of every attached interface. */
  privateIps: string[];
  lifecycle?: 'spot';
  launchTemplate?: { id: string; version: string };
  clientToken?: string;
  launchTime: string;
  tags: Record<string, string>;
  volumes: { volumeId: string; deviceName: string; deleteOnTermination: boolean; status: string }[];
  networkInterfaces: {
    networkInterfaceId: string;
    deviceIndex: number;
    attachmentId: string;
    deleteOnTermination: boolean;
    status: string;
    privateIps: string[];
  }[];
}

export interface VolumeView {
  volumeId: string;
  state: string;
  availabilityZone: string;
  size: number;
  snapshotId?: string;
  tags: Record<string, string>;
  attachment?: { instanceId: string; device: string; state: string; deleteOnTermination: boolean };
}

export interface SnapshotView {
  snapshotId: string;
  volumeId: string;
  state: string;
  volumeSize: number;
  tags: Record<string, string>;
}

export interface NetworkInterfaceView {
  networkInterfaceId: string;
  status: string;
  subnetId: string;
  vpcId: string;
  availabilityZone: string;
  privateIps: { address: string; primary: boolean }[];
  attachment?: {
    attachmentId: string;
    instanceId: string;
    deviceIndex: number;
    status: string;
    deleteOnTermination: boolean;
  };
  tags: Record<string, string>;
}

export interface AddressView {
  allocationId: string;
  publicIp: string;
  associationId?: string;
  networkInterfaceId?: string;
  privateIpAddress?: string;
  instanceId?: string;
  tags: Record<string, string>;
}

export interface SubnetView {
  subnetId: string;
  vpcId: string;
  cidrBlock: string;
  availabilityZone: string;
  defaultForAz: boolean;
}

export interface VpcView {
  vpcId: string;
  cidrBlock: string;
  isDefault: boolean;
}

export interface LaunchTemplateView {
  launchTemplateId: string;
  launchTemplateName: string;
  defaultVersion: number;
  latestVersion: number;
}

export interface Ec2Inspection {
  instances(): InstanceView[];
  /** One instance, or undefined once EC2 has forgotten it. */
  instance(instanceId: string): InstanceView | undefined;
  volumes(): VolumeView[];
  snapshots(): SnapshotView[];
  interfaces(): NetworkInterfaceView[];
  addresses(): AddressView[];
  vpcs(): VpcView[];
  subnets(): SubnetView[];
  launchTemplates(): LaunchTemplateView[];
}

const plain = (tags: Tags) => Object.fromEntries(tags);

export function createInspection(state: Ec2State): Ec2Inspection {
  const instanceView = (instanceId: string): InstanceView | undefined => {
    const instance = state.instances.get(instanceId);
    if (!instance) return undefined;
    const interfaces = state.interfacesOf(instanceId);
    return {
      instanceId,
      state: instance.state,
      stateReason: instance.stateReason?.code,
      instanceType: instance.instanceType,
      availabilityZone: instance.availabilityZone,
      subnetId: instance.subnetId,
      vpcId: instance.vpcId,
      privateIpAddress: interfaces[0]?.privateIps.find((ip) => ip.primary)?.address,
      privateIps: interfaces.flatMap((eni) => eni.privateIps.map((ip) => ip.address)),
      lifecycle: instance.spot ? 'spot' : undefined,
      launchTemplate: instance.launchTemplate && { ...instance.launchTemplate },
      clientToken: instance.clientToken,
      launchTime: instance.launchTime.toISOString(),
      tags: plain(instance.tags),
      volumes: state.volumesOf(instanceId).map((volume) => ({
        volumeId: volume.volumeId,
        deviceName: volume.attachment!.device,
        deleteOnTermination: volume.attachment!.deleteOnTermination,
        status: volume.attachment!.state,
      })),
      networkInterfaces: interfaces.map((eni) => ({
        networkInterfaceId: eni.networkInterfaceId,
        deviceIndex: eni.attachment!.deviceIndex,
        attachmentId: eni.attachment!.attachmentId,
        deleteOnTermination: eni.attachment!.deleteOnTermination,
        status: eni.attachment!.status,
        privateIps: eni.privateIps.map((ip) => ip.address),
      })),
    };
  };

  return {
    instances: () => [...state.instances.keys()].map((id) => instanceView(id)!),
    instance: instanceView,
    volumes: () =>
      [...state.volumes.values()].map((volume) => ({
        volumeId: volume.volumeId,
        state: volume.state,
        availabilityZone: volume.availabilityZone,
        size: volume.size,
        snapshotId: volume.snapshotId,
        tags: plain(volume.tags),
        attachment: volume.attachment && {
          instanceId: volume.attachment.instanceId,
          device: volume.attachment.device,
          state: volume.attachment.state,
          deleteOnTermination: volume.attachment.deleteOnTermination,
        },
      })),
    snapshots: () =>
      [...state.snapshots.values()].map((snapshot) => ({
        snapshotId: snapshot.snapshotId,
        volumeId: snapshot.volumeId,
        state: snapshot.state,
        volumeSize: snapshot.volumeSize,
        tags: plain(snapshot.tags),
      })),
    interfaces: () =>
      [...state.interfaces.values()].map((eni) => ({
        networkInterfaceId: eni.networkInterfaceId,
        status: eni.status,
        subnetId: eni.subnetId,
        vpcId: eni.vpcId,
        availabilityZone: eni.availabilityZone,
        privateIps: eni.privateIps.map((ip) => ({ ...ip })),
        attachment: eni.attachment && {
          attachmentId: eni.attachment.attachmentId,
          instanceId: eni.attachment.instanceId,
          deviceIndex: eni.attachment.deviceIndex,
          status: eni.attachment.status,
          deleteOnTermination: eni.attachment.deleteOnTermination,
        },
        tags: plain(eni.tags),
      })),
    addresses: () =>
      [...state.addresses.values()].map((address) => ({
        allocationId: address.allocationId,
        publicIp: address.publicIp,
        associationId: address.association?.associationId,
        networkInterfaceId: address.association?.networkInterfaceId,
        privateIpAddress: address.association?.privateIpAddress,
        instanceId: address.association
          ? state.interfaces.get(address.association.networkInterfaceId)?.attachment?.instanceId
          : undefined,
        tags: plain(address.tags),
      })),
    vpcs: () =>
      [...state.vpcs.values()].map((vpc) => ({
        vpcId: vpc.vpcId,
        cidrBlock: vpc.cidrBlock,
        isDefault: vpc.isDefault,
      })),
    subnets: () =>
      [...state.subnets.values()].map((subnet) => ({
        subnetId: subnet.subnetId,
        vpcId: subnet.vpcId,
        cidrBlock: subnet.cidrBlock,
        availabilityZone: subnet.availabilityZone,
        defaultForAz: subnet.defaultForAz,
      })),
    launchTemplates: () =>
      [...state.launchTemplates.values()].map((template) => ({
        launchTemplateId: template.launchTemplateId,
        launchTemplateName: template.launchTemplateName,
        defaultVersion: template.defaultVersion,
        latestVersion: template.versions.at(-1)!.versionNumber,
      })),
  };
}
