import { AwsError } from '../../contracts.ts';
import { invalidParameterValue } from '../errors.ts';
import { cidrsOverlap, cidrWithin, parseCidr } from '../ipv4.ts';
import { applyFilters, pageOf } from '../query.ts';
import { renderSubnet, renderVpc, zoneId } from '../render.ts';
import { type Action, parseTagSpecifications, tagsFor } from './context.ts';

function assertBlockSize(cidrBlock: string, code: string) {
  const cidr = parseCidr(cidrBlock);
  if (!cidr)
    throw invalidParameterValue(
      `Value (${cidrBlock}) for parameter cidrBlock is invalid. This is not a valid CIDR block.`,
    );
  if (cidr.prefix < 16 || cidr.prefix > 28) throw new AwsError(code, `The CIDR '${cidrBlock}' is invalid.`);
  return cidr;
}

export const vpcActions: Record<string, Action> = {
  DescribeVpcs({ params, state }) {
    const ids = params.strings('VpcId');
    const vpcs = ids.length ? ids.map((id) => state.vpc(id)) : [...state.vpcs.values()];
    const filtered = applyFilters(
      vpcs,
      params,
      {
        'vpc-id': (v) => v.vpcId,
        'cidr-block': (v) => v.cidrBlock,
        cidr: (v) => v.cidrBlock,
        'is-default': (v) => String(v.isDefault),
        state: () => 'available',
        'owner-id': () => state.accountId,
      },
      (v) => v.tags,
    );
    const page = pageOf(filtered, params);
    return { vpcSet: page.items.map((vpc) => renderVpc(state, vpc)), nextToken: page.next };
  },

  CreateVpc({ params, state, commit }) {
    const cidrBlock = params.required('CidrBlock');
    assertBlockSize(cidrBlock, 'InvalidVpc.Range');
    const tags = tagsFor(parseTagSpecifications(params, ['vpc']), 'vpc');
    commit();
    const vpc = state.addVpc(cidrBlock, false);
    for (const [key, value] of tags) vpc.tags.set(key, value);
    return { vpc: renderVpc(state, vpc) };
  },

  DescribeSubnets({ params, state }) {
    const ids = params.strings('SubnetId');
    const subnets = ids.length ? ids.map((id) => state.subnet(id)) : [...state.subnets.values()];
    const filtered = applyFilters(
      subnets,
      params,
      {
        'subnet-id': (s) => s.subnetId,
        'vpc-id': (s) => s.vpcId,
        'availability-zone': (s) => s.availabilityZone,
        'availability-zone-id': (s) => zoneId(state.region, s.availabilityZone),
        'cidr-block': (s) => s.cidrBlock,
        'default-for-az': (s) => String(s.defaultForAz),
        defaultForAz: (s) => String(s.defaultForAz),
        state: () => 'available',
        'owner-id': () => state.accountId,
      },
      (s) => s.tags,
    );
    const page = pageOf(filtered, params);
    return { subnetSet: page.items.map((subnet) => renderSubnet(state, subnet)), nextToken: page.next };
  },

  CreateSubnet({ params, state, commit }) {
    const vpc = state.vpc(params.required('VpcId'));
    const cidrBlock = params.required('CidrBlock');
    const cidr = assertBlockSize(cidrBlock, 'InvalidSubnet.Range');
    if (!cidrWithin(cidr, parseCidr(vpc.cidrBlock)!)) {
      throw new AwsError('InvalidSubnet.Range', `The CIDR '${cidrBlock}' is invalid.`);
    }
    for (const other of state.subnets.values()) {
      if (other.vpcId === vpc.vpcId && cidrsOverlap(cidr, parseCidr(other.cidrBlock)!)) {
        throw new AwsError('InvalidSubnet.Conflict', `The CIDR '${cidrBlock}' conflicts with another subnet`);
      }
    }
    const zone = params.get('AvailabilityZone') ?? state.availabilityZones[0]!;
    state.assertZone(zone);
    const tags = tagsFor(parseTagSpecifications(params, ['subnet']), 'subnet');
    commit();
    const subnet = state.addSubnet(vpc.vpcId, cidrBlock, zone, false);
    for (const [key, value] of tags) subnet.tags.set(key, value);
    return { subnet: renderSubnet(state, subnet) };
  },

  DescribeAvailabilityZones({ params, state }) {
    const names = params.strings('ZoneName');
    for (const name of names) {
      if (!state.availabilityZones.includes(name))
        throw invalidParameterValue(`The zone '${name}' does not exist.`);
    }
    const zones = names.length ? names : state.availabilityZones;
    const filtered = applyFilters(
      zones,
      params,
      {
        'zone-name': (z) => z,
        'zone-id': (z) => zoneId(state.region, z),
        state: () => 'available',
        'region-name': () => state.region,
        'zone-type': () => 'availability-zone',
        'opt-in-status': () => 'opt-in-not-required',
        'group-name': () => state.region,
      },
      () => new Map(),
    );
    return {
      availabilityZoneInfo: filtered.map((zone) => ({
        zoneName: zone,
        zoneState: 'available',
        regionName: state.region,
        zoneId: zoneId(state.region, zone),
        groupName: state.region,
        networkBorderGroup: state.region,
        zoneType: 'availability-zone',
        optInStatus: 'opt-in-not-required',
        messageSet: [],
      })),
    };
  },
};
