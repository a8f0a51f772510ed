import {
  AllocateAddressCommand,
  AssignPrivateIpAddressesCommand,
  AssociateAddressCommand,
  AttachNetworkInterfaceCommand,
  AttachVolumeCommand,
  CreateNetworkInterfaceCommand,
  CreateVolumeCommand,
  DescribeInstancesCommand,
  DescribeNetworkInterfacesCommand,
  DescribeVolumesCommand,
  type EC2Client,
  ModifyInstanceAttributeCommand,
  ModifyNetworkInterfaceAttributeCommand,
} from '@aws-sdk/client-ec2';

/**
 * State for a stateful instance, made through the real APIs as a user would: an EBS data volume at
 * /dev/sdf and a secondary network interface (device 1), both set to be deleted with the instance
 * (as a launch template's are) unless the handoff protects them, a secondary private IP on the
 * primary interface, and an Elastic IP on the primary private IP.
 */

export interface StatefulState {
  instanceId: string;
  availabilityZone: string;
  volumeId: string;
  deviceName: string;
  networkInterfaceId: string;
  secondaryPrivateIp: string;
  allocationId: string;
  publicIp: string;
}

/**
 * Gives a running instance its state. The instance must carry `spot-handoff:stateful=true` to be
 * handed over. `until` lets the cloud's time pass until a condition holds (a new volume is
 * `creating` for a few seconds, as on AWS).
 */
export async function giveState(
  ec2: EC2Client,
  instanceId: string,
  until: (done: () => Promise<boolean>, what: string) => Promise<void>,
): Promise<StatefulState> {
  const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
  const instance = described.Reservations?.[0]?.Instances?.[0];
  if (!instance) throw new Error(`No instance ${instanceId}.`);
  const availabilityZone = instance.Placement!.AvailabilityZone!;
  const primary = instance.NetworkInterfaces!.find((eni) => eni.Attachment?.DeviceIndex === 0)!;

  const volume = await ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: availabilityZone,
      Size: 20,
      VolumeType: 'gp3',
      TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'Name', Value: 'data' }] }],
    }),
  );
  await until(async () => {
    const out = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volume.VolumeId!] }));
    return out.Volumes?.[0]?.State === 'available';
  }, 'the data volume to be created');
  const deviceName = '/dev/sdf';
  const eni = await ec2.send(
    new CreateNetworkInterfaceCommand({
      SubnetId: instance.SubnetId!,
      Description: 'service address',
      TagSpecifications: [{ ResourceType: 'network-interface', Tags: [{ Key: 'Name', Value: 'service' }] }],
    }),
  );
  const networkInterfaceId = eni.NetworkInterface!.NetworkInterfaceId!;
  await ec2.send(
    new AttachVolumeCommand({ VolumeId: volume.VolumeId!, InstanceId: instanceId, Device: deviceName }),
  );
  await ec2.send(
    new AttachNetworkInterfaceCommand({
      NetworkInterfaceId: networkInterfaceId,
      InstanceId: instanceId,
      DeviceIndex: 1,
    }),
  );
  // Like volumes and interfaces a launch template creates: deleted with the instance unless protected.
  await until(async () => {
    const out = await ec2.send(
      new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [networkInterfaceId] }),
    );
    return out.NetworkInterfaces?.[0]?.Attachment?.Status === 'attached';
  }, 'the interface to attach');
  const attachment = await ec2.send(
    new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [networkInterfaceId] }),
  );
  await ec2.send(
    new ModifyNetworkInterfaceAttributeCommand({
      NetworkInterfaceId: networkInterfaceId,
      Attachment: {
        AttachmentId: attachment.NetworkInterfaces![0]!.Attachment!.AttachmentId!,
        DeleteOnTermination: true,
      },
    }),
  );
  await ec2.send(
    new ModifyInstanceAttributeCommand({
      InstanceId: instanceId,
      BlockDeviceMappings: [{ DeviceName: deviceName, Ebs: { DeleteOnTermination: true } }],
    }),
  );
  const assigned = await ec2.send(
    new AssignPrivateIpAddressesCommand({
      NetworkInterfaceId: primary.NetworkInterfaceId!,
      SecondaryPrivateIpAddressCount: 1,
    }),
  );
  const address = await ec2.send(new AllocateAddressCommand({ Domain: 'vpc' }));
  await ec2.send(
    new AssociateAddressCommand({
      AllocationId: address.AllocationId!,
      NetworkInterfaceId: primary.NetworkInterfaceId!,
      PrivateIpAddress: primary.PrivateIpAddress!,
    }),
  );
  return {
    instanceId,
    availabilityZone,
    volumeId: volume.VolumeId!,
    deviceName,
    networkInterfaceId,
    secondaryPrivateIp: assigned.AssignedPrivateIpAddresses![0]!.PrivateIpAddress!,
    allocationId: address.AllocationId!,
    publicIp: address.PublicIp!,
  };
}
