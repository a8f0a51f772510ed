import { AwsError } from '../../contracts.ts';
import {
  incorrectInstanceState,
  invalidParameterCombination,
  invalidParameterValue,
  missingParameter,
  notFound,
  operationNotPermitted,
} from '../errors.ts';
import { newId } from '../ids.ts';
import type { Address, NetworkInterface } from '../model.ts';
import { applyFilters, pageOf } from '../query.ts';
import { renderAddress, renderInterface } from '../render.ts';
import type { Ec2State } from '../state.ts';
import { type Action, ok, parseTagSpecifications, tagsFor } from './context.ts';

/** Network interfaces (bound to a subnet, so to one AZ), their private IPs, and Elastic IPs (Regional). */

const IPS_BY_SIZE: Record<string, number> = {
  nano: 2,
  micro: 2,
  small: 4,
  medium: 6,
  large: 10,
  xlarge: 15,
  '2xlarge': 15,
  '4xlarge': 30,
  '8xlarge': 30,
  '9xlarge': 30,
  '12xlarge': 30,
  '16xlarge': 50,
  '24xlarge': 50,
  metal: 50,
};

/**
 * Private IPv4 addresses per interface for an instance type: an approximation by size of EC2's
 * per-type table (e.g. m5.large: 10, t3.micro: 2).
 */
export function ipLimitPerInterface(instanceType: string | undefined): number {
  if (instanceType === undefined) return 50;
  const size = instanceType.split('.')[1] ?? '';
  return IPS_BY_SIZE[size] ?? 30;
}

function interfaceLimit(state: Ec2State, eni: NetworkInterface): number {
  const instanceId = eni.attachment?.instanceId;
  return ipLimitPerInterface(instanceId ? state.instances.get(instanceId)?.instanceType : undefined);
}

function findAttachment(state: Ec2State, attachmentId: string): NetworkInterface {
  for (const eni of state.interfaces.values()) {
    if (eni.attachment?.attachmentId === attachmentId) return eni;
  }
  throw notFound('InvalidAttachmentID.NotFound', attachmentId);
}

function findAssociation(state: Ec2State, associationId: string): Address {
  for (const address of state.addresses.values()) {
    if (address.association?.associationId === associationId) return address;
  }
  throw notFound('InvalidAssociationID.NotFound', associationId);
}

function addressByPublicIp(state: Ec2State, publicIp: string): Address {
  for (const address of state.addresses.values()) {
    if (address.publicIp === publicIp) return address;
  }
  throw notFound('InvalidAddress.NotFound', publicIp);
}

export const networkActions: Record<string, Action> = {
  CreateNetworkInterface({ params, state, commit }) {
    const subnet = state.subnet(params.required('SubnetId'));
    const listed = params.structs('PrivateIpAddresses').map((p) => ({
      address: p.required('PrivateIpAddress'),
      primary: p.bool('Primary') ?? false,
    }));
    const primaryIp = params.get('PrivateIpAddress') ?? listed.find((ip) => ip.primary)?.address;
    const secondaryIps = listed.filter((ip) => ip.address !== primaryIp).map((ip) => ip.address);
    const requested = [...(primaryIp ? [primaryIp] : []), ...secondaryIps];
    for (const ip of requested) {
      state.assertIpInSubnet(subnet, ip);
      if (state.ipOwner(subnet.subnetId, ip)) {
        throw new AwsError('InvalidIPAddress.InUse', `The specified address ${ip} is already in use.`);
      }
    }
    if (secondaryIps.length && !primaryIp) {
      throw invalidParameterCombination(
        'A primary private IP address must be specified with secondary addresses.',
      );
    }
    const secondaryCount = params.int('SecondaryPrivateIpAddressCount') ?? 0;
    if (1 + secondaryIps.length + secondaryCount > ipLimitPerInterface(undefined)) {
      throw new AwsError('PrivateIpAddressLimitExceeded', 'Number of private addresses will exceed limit.');
    }
    state.freeIps(subnet, secondaryCount + (primaryIp ? 0 : 1), new Set(requested));
    const tags = tagsFor(parseTagSpecifications(params, ['network-interface']), 'network-interface');
    commit();
    const eni = state.createInterface(subnet, {
      primaryIp,
      secondaryIps,
      secondaryCount,
      description: params.get('Description'),
      securityGroupIds: params.strings('SecurityGroupId'),
      tags,
    });
    return { networkInterface: renderInterface(state, eni) };
  },

  DescribeNetworkInterfaces({ params, state }) {
    const ids = params.strings('NetworkInterfaceId');
    const interfaces = ids.length
      ? [...new Set(ids.map((id) => state.networkInterface(id)))]
      : [...state.interfaces.values()];
    const filtered = applyFilters(
      interfaces,
      params,
      {
        'network-interface-id': (n) => n.networkInterfaceId,
        'subnet-id': (n) => n.subnetId,
        'vpc-id': (n) => n.vpcId,
        'availability-zone': (n) => n.availabilityZone,
        status: (n) => n.status,
        description: (n) => n.description,
        'mac-address': (n) => n.macAddress,
        'private-ip-address': (n) => n.privateIps.find((ip) => ip.primary)?.address,
        'addresses.private-ip-address': (n) => n.privateIps.map((ip) => ip.address),
        'addresses.primary': (n) => n.privateIps.map((ip) => String(ip.primary)),
        'attachment.instance-id': (n) => n.attachment?.instanceId,
        'attachment.attachment-id': (n) => n.attachment?.attachmentId,
        'attachment.device-index': (n) => n.attachment && String(n.attachment.deviceIndex),
        'attachment.status': (n) => n.attachment?.status,
        'attachment.delete-on-termination': (n) => n.attachment && String(n.attachment.deleteOnTermination),
        'group-id': (n) => n.securityGroupIds,
        'owner-id': () => state.accountId,
        'interface-type': () => 'interface',
        'association.public-ip': (n) =>
          n.privateIps.map((ip) => state.addressOn(n.networkInterfaceId, ip.address)?.publicIp),
        'association.allocation-id': (n) =>
          n.privateIps.map((ip) => state.addressOn(n.networkInterfaceId, ip.address)?.allocationId),
      },
      (n) => n.tags,
    );
    const page = pageOf(filtered, params);
    return {
      networkInterfaceSet: page.items.map((eni) => renderInterface(state, eni)),
      nextToken: page.next,
    };
  },

  DeleteNetworkInterface({ params, state, commit }) {
    const eni = state.networkInterface(params.required('NetworkInterfaceId'));
    if (eni.attachment) {
      throw new AwsError(
        'InvalidNetworkInterface.InUse',
        `The network interface '${eni.networkInterfaceId}' is currently in use.`,
      );
    }
    commit();
    state.deleteInterface(eni);
    return ok;
  },

  AttachNetworkInterface({ params, state, commit }) {
    const eni = state.networkInterface(params.required('NetworkInterfaceId'));
    const instance = state.instance(params.required('InstanceId'));
    const deviceIndex = params.int('DeviceIndex');
    if (deviceIndex === undefined) throw missingParameter('DeviceIndex');
    if (eni.attachment) {
      throw new AwsError('InvalidNetworkInterface.InUse', `Interface: [${eni.networkInterfaceId}] in use.`);
    }
    if (instance.state !== 'running' && instance.state !== 'stopped') {
      throw incorrectInstanceState(instance.instanceId, instance.state, 'attached to');
    }
    if (eni.availabilityZone !== instance.availabilityZone) {
      throw invalidParameterCombination(
        'You may not attach a network interface to an instance if they are not in the same availability zone',
      );
    }
    if (eni.vpcId !== instance.vpcId) {
      throw invalidParameterCombination(
        `Network interface ${eni.networkInterfaceId} and instance ${instance.instanceId} are not in the same VPC.`,
      );
    }
    if (
      state.interfacesOf(instance.instanceId).some((other) => other.attachment!.deviceIndex === deviceIndex)
    ) {
      throw invalidParameterValue(
        `Instance '${instance.instanceId}' already has an interface attached at device index '${deviceIndex}'.`,
      );
    }
    if (eni.privateIps.length > ipLimitPerInterface(instance.instanceType)) {
      throw new AwsError(
        'PrivateIpAddressLimitExceeded',
        `The network interface has more private addresses than instance type ${instance.instanceType} supports.`,
      );
    }
    commit();
    const attachment: NonNullable<NetworkInterface['attachment']> = {
      attachmentId: newId('eni-attach'),
      instanceId: instance.instanceId,
      deviceIndex,
      status: 'attaching',
      attachTime: state.now(),
      deleteOnTermination: false,
    };
    eni.attachment = attachment;
    eni.status = 'in-use';
    attachment.cancel = state.clock.schedule(state.timings.interfaceAttaching, () => {
      if (eni.attachment === attachment && attachment.status === 'attaching') attachment.status = 'attached';
    });
    return { attachmentId: attachment.attachmentId, networkCardIndex: 0 };
  },

  DetachNetworkInterface({ params, state, commit }) {
    const eni = findAttachment(state, params.required('AttachmentId'));
    const attachment = eni.attachment!;
    if (attachment.deviceIndex === 0) {
      throw operationNotPermitted('The network interface at device index 0 cannot be detached.');
    }
    commit();
    if (attachment.status === 'detaching') return ok;
    attachment.cancel?.();
    attachment.status = 'detaching';
    attachment.cancel = state.clock.schedule(state.timings.interfaceDetaching, () => {
      if (eni.attachment !== attachment) return;
      delete eni.attachment;
      eni.status = 'available';
    });
    return ok;
  },

  ModifyNetworkInterfaceAttribute({ params, state, commit }) {
    const eni = state.networkInterface(params.required('NetworkInterfaceId'));
    const changes: (() => void)[] = [];
    const attachmentId = params.get('Attachment.AttachmentId');
    if (attachmentId !== undefined) {
      if (eni.attachment?.attachmentId !== attachmentId)
        throw notFound('InvalidAttachmentID.NotFound', attachmentId);
      const deleteOnTermination = params.bool('Attachment.DeleteOnTermination');
      if (deleteOnTermination === undefined) throw missingParameter('Attachment.DeleteOnTermination');
      const attachment = eni.attachment;
      changes.push(() => (attachment.deleteOnTermination = deleteOnTermination));
    }
    const description = params.get('Description.Value');
    if (description !== undefined) changes.push(() => (eni.description = description));
    const sourceDestCheck = params.bool('SourceDestCheck.Value');
    if (sourceDestCheck !== undefined) changes.push(() => (eni.sourceDestCheck = sourceDestCheck));
    const groups = params.strings('SecurityGroupId');
    if (groups.length) changes.push(() => (eni.securityGroupIds = groups));
    if (!changes.length) throw missingParameter('an attribute to modify');
    commit();
    for (const change of changes) change();
    return ok;
  },

  AssignPrivateIpAddresses({ params, state, commit }) {
    const eni = state.networkInterface(params.required('NetworkInterfaceId'));
    const ips = params.strings('PrivateIpAddress');
    const count = params.int('SecondaryPrivateIpAddressCount');
    if (ips.length && count !== undefined) {
      throw invalidParameterCombination(
        'Specify either private IP addresses or a secondary private IP address count, not both.',
      );
    }
    if (!ips.length && count === undefined) {
      throw missingParameter('PrivateIpAddress or SecondaryPrivateIpAddressCount');
    }
    const subnet = state.subnet(eni.subnetId);
    const allowReassignment = params.bool('AllowReassignment') ?? false;
    const moves: { ip: string; from: NetworkInterface }[] = [];
    const fresh: string[] = [];
    for (const ip of ips) {
      state.assertIpInSubnet(subnet, ip);
      const ownerId = state.ipOwner(subnet.subnetId, ip);
      if (ownerId === eni.networkInterfaceId) continue;
      if (ownerId === undefined) {
        fresh.push(ip);
        continue;
      }
      const owner = state.interfaces.get(ownerId)!;
      if (owner.privateIps.find((p) => p.address === ip)?.primary) {
        throw invalidParameterValue(
          `Address ${ip} is the primary address of ${ownerId} and cannot be reassigned.`,
        );
      }
      if (!allowReassignment) {
        throw invalidParameterValue(
          `Address ${ip} is already assigned to ${ownerId}; set AllowReassignment to move it.`,
        );
      }
      moves.push({ ip, from: owner });
    }
    const added = count !== undefined ? state.freeIps(subnet, count) : [...fresh, ...moves.map((m) => m.ip)];
    if (eni.privateIps.length + added.length > interfaceLimit(state, eni)) {
      throw new AwsError('PrivateIpAddressLimitExceeded', 'Number of private addresses will exceed limit.');
    }
    commit();
    for (const { ip, from } of moves) {
      from.privateIps = from.privateIps.filter((p) => p.address !== ip);
      const address = state.addressOn(from.networkInterfaceId, ip);
      if (address?.association) address.association.networkInterfaceId = eni.networkInterfaceId;
    }
    for (const ip of added) {
      eni.privateIps.push({ address: ip, primary: false });
      state.claimIp(subnet.subnetId, ip, eni.networkInterfaceId);
    }
    return {
      return: true,
      networkInterfaceId: eni.networkInterfaceId,
      assignedPrivateIpAddressesSet: added.map((privateIpAddress) => ({ privateIpAddress })),
    };
  },

  UnassignPrivateIpAddresses({ params, state, commit }) {
    const eni = state.networkInterface(params.required('NetworkInterfaceId'));
    const ips = params.strings('PrivateIpAddress');
    if (!ips.length) throw missingParameter('PrivateIpAddress');
    for (const ip of ips) {
      const assigned = eni.privateIps.find((p) => p.address === ip);
      if (!assigned) {
        throw invalidParameterValue(
          `Some of the specified addresses are not assigned to interface ${eni.networkInterfaceId}`,
        );
      }
      if (assigned.primary)
        throw invalidParameterValue(`Address ${ip} is the primary address and cannot be unassigned.`);
    }
    commit();
    for (const ip of ips) {
      const address = state.addressOn(eni.networkInterfaceId, ip);
      if (address) delete address.association;
      eni.privateIps = eni.privateIps.filter((p) => p.address !== ip);
      state.releaseIp(eni.subnetId, ip);
    }
    return ok;
  },

  AllocateAddress({ params, state, commit }) {
    const domain = params.get('Domain') ?? 'vpc';
    if (domain !== 'vpc') throw invalidParameterValue(`Value (${domain}) for parameter domain is invalid.`);
    if (state.addresses.size >= state.elasticIpLimit) {
      throw new AwsError('AddressLimitExceeded', 'The maximum number of addresses has been reached.');
    }
    const tags = tagsFor(parseTagSpecifications(params, ['elastic-ip']), 'elastic-ip');
    commit();
    const address: Address = { allocationId: newId('eipalloc'), publicIp: state.nextPublicAddress(), tags };
    state.addresses.set(address.allocationId, address);
    return {
      publicIp: address.publicIp,
      domain: 'vpc',
      allocationId: address.allocationId,
      publicIpv4Pool: 'amazon',
      networkBorderGroup: state.region,
    };
  },

  AssociateAddress({ params, state, commit }) {
    const allocationId = params.get('AllocationId');
    const publicIp = params.get('PublicIp');
    if (allocationId === undefined && publicIp === undefined) throw missingParameter('AllocationId');
    const address =
      allocationId !== undefined ? state.address(allocationId) : addressByPublicIp(state, publicIp!);
    const instanceId = params.get('InstanceId');
    const networkInterfaceId = params.get('NetworkInterfaceId');
    if (instanceId !== undefined && networkInterfaceId !== undefined) {
      throw invalidParameterCombination('Specify either an instance ID or a network interface ID, not both.');
    }
    let eni: NetworkInterface;
    if (instanceId !== undefined) {
      const instance = state.instance(instanceId);
      if (instance.state === 'shutting-down' || instance.state === 'terminated') {
        throw incorrectInstanceState(instance.instanceId, instance.state, 'associated with an address');
      }
      const interfaces = state.interfacesOf(instance.instanceId);
      if (interfaces.length > 1) {
        throw new AwsError(
          'InvalidInstanceID',
          `There are multiple interfaces attached to instance '${instanceId}'. Please specify an interface ID for the operation instead.`,
        );
      }
      eni = interfaces[0]!;
    } else if (networkInterfaceId !== undefined) {
      eni = state.networkInterface(networkInterfaceId);
    } else {
      throw missingParameter('InstanceId or NetworkInterfaceId');
    }
    const privateIp = params.get('PrivateIpAddress') ?? eni.privateIps.find((ip) => ip.primary)!.address;
    if (!eni.privateIps.some((ip) => ip.address === privateIp)) {
      throw invalidParameterValue(
        `The private IP address ${privateIp} is not assigned to network interface ${eni.networkInterfaceId}.`,
      );
    }
    const current = address.association;
    const same =
      current?.networkInterfaceId === eni.networkInterfaceId && current.privateIpAddress === privateIp;
    if (current && !same && !(params.bool('AllowReassociation') ?? false)) {
      throw new AwsError(
        'Resource.AlreadyAssociated',
        `resource ${address.allocationId} is already associated with associate-id ${current.associationId}`,
      );
    }
    commit();
    if (same && current) return { return: true, associationId: current.associationId };
    const previousHolder = current && state.interfaces.get(current.networkInterfaceId);
    const displaced = state.addressOn(eni.networkInterfaceId, privateIp);
    if (displaced) delete displaced.association;
    address.association = {
      associationId: newId('eipassoc'),
      networkInterfaceId: eni.networkInterfaceId,
      privateIpAddress: privateIp,
    };
    for (const holder of [eni, previousHolder]) {
      const instance = holder && state.instanceOf(holder);
      if (instance) state.syncPublicIp(instance);
    }
    return { return: true, associationId: address.association.associationId };
  },

  DisassociateAddress({ params, state, commit }) {
    const associationId = params.get('AssociationId');
    const publicIp = params.get('PublicIp');
    if (associationId === undefined && publicIp === undefined) throw missingParameter('AssociationId');
    const address =
      associationId !== undefined
        ? findAssociation(state, associationId)
        : addressByPublicIp(state, publicIp!);
    commit();
    const holder = address.association && state.interfaces.get(address.association.networkInterfaceId);
    delete address.association;
    const instance = holder && state.instanceOf(holder);
    if (instance) state.syncPublicIp(instance);
    return ok;
  },

  DescribeAddresses({ params, state }) {
    const allocationIds = params.strings('AllocationId');
    const publicIps = params.strings('PublicIp');
    let addresses = [...state.addresses.values()];
    if (allocationIds.length) addresses = allocationIds.map((id) => state.address(id));
    if (publicIps.length) addresses = publicIps.map((ip) => addressByPublicIp(state, ip));
    const filtered = applyFilters(
      addresses,
      params,
      {
        'allocation-id': (a) => a.allocationId,
        'association-id': (a) => a.association?.associationId,
        'network-interface-id': (a) => a.association?.networkInterfaceId,
        'private-ip-address': (a) => a.association?.privateIpAddress,
        'public-ip': (a) => a.publicIp,
        'instance-id': (a) =>
          a.association
            ? state.interfaces.get(a.association.networkInterfaceId)?.attachment?.instanceId
            : undefined,
        domain: () => 'vpc',
        'network-interface-owner-id': (a) => (a.association ? state.accountId : undefined),
        'network-border-group': () => state.region,
      },
      (a) => a.tags,
    );
    return { addressesSet: filtered.map((address) => renderAddress(state, address)) };
  },

  ReleaseAddress({ params, state, commit }) {
    const allocationId = params.get('AllocationId');
    const publicIp = params.get('PublicIp');
    if (allocationId === undefined && publicIp === undefined) throw missingParameter('AllocationId');
    const address =
      allocationId !== undefined ? state.address(allocationId) : addressByPublicIp(state, publicIp!);
    if (address.association)
      throw new AwsError('InvalidIPAddress.InUse', `Address ${address.publicIp} is in use.`);
    commit();
    state.addresses.delete(address.allocationId);
    return ok;
  },
};
