import { AwsError } from '../../contracts.ts';
import type { Params } from '../../query.ts';
import type { XmlObject } from '../../xml.ts';
import type { Market, Pool } from '../capacity.ts';
import {
  idempotentParameterMismatch,
  incorrectInstanceState,
  incorrectState,
  instancesNotFound,
  invalidParameterCombination,
  invalidParameterValue,
  malformed,
  missingParameter,
  operationNotPermitted,
} from '../errors.ts';
import { isWellFormedId, newId, newSpotRequestId } from '../ids.ts';
import { beginStop, beginTermination, boot, USER_SHUTDOWN } from '../lifecycle.ts';
import {
  type BlockDeviceSpec,
  type Instance,
  type LaunchData,
  type LaunchTemplate,
  type LaunchTemplateVersion,
  STATE_CODES,
  type Subnet,
  type Tags,
} from '../model.ts';
import { formatPrice } from '../pricing.ts';
import { applyFilters, pageOf } from '../query.ts';
import { renderReservation } from '../render.ts';
import type { Ec2State } from '../state.ts';
import { type Action, ok } from './context.ts';
import { findTemplate, findVersion, parseLaunchData } from './launch-templates.ts';
import { ipLimitPerInterface } from './network.ts';

const ROOT_DEVICE = '/dev/xvda';
const DEFAULT_ROOT_SIZE = 8;

/** Instances by id, failing like EC2: malformed ids first, then every unknown id in one error. */
export function instancesById(state: Ec2State, ids: readonly string[]): Instance[] {
  for (const id of ids) {
    if (!isWellFormedId('i', id)) throw malformed('InvalidInstanceID.Malformed', id, 'i');
  }
  const missing = ids.filter((id) => !state.instances.has(id));
  if (missing.length) throw instancesNotFound(missing);
  return [...new Set(ids)].map((id) => state.instances.get(id)!);
}

/** EC2's capacity error for a pool: Spot's says only that there is none; On-Demand's names other AZs. */
export function capacityError(state: Ec2State, pool: Pool): AwsError {
  const { availabilityZone: zone, instanceType } = pool;
  if (pool.market === 'spot') {
    return new AwsError(
      'InsufficientInstanceCapacity',
      'There is no Spot capacity available that matches your request.',
    );
  }
  const others = state.availabilityZones.filter(
    (z) => z !== zone && state.capacity.available({ ...pool, availabilityZone: z }) > 0,
  );
  const hint = others.length
    ? ` You can currently get ${instanceType} capacity by not specifying an Availability Zone in your request or choosing ${others.join(', ')}.`
    : '';
  return new AwsError(
    'InsufficientInstanceCapacity',
    `We currently do not have sufficient ${instanceType} capacity in the Availability Zone you requested (${zone}). Our system will be working on provisioning additional capacity.${hint}`,
  );
}

/** The request's ClientToken, checked as EC2 checks it (at most 64 ASCII characters). */
export function clientToken(params: Params): string | undefined {
  const token = params.get('ClientToken');
  if (token !== undefined && (token.length > 64 || !/^[\x20-\x7e]*$/.test(token))) {
    throw invalidParameterValue(
      `Value (${token}) for parameter clientToken is invalid. Maximum 64 ASCII characters.`,
    );
  }
  return token;
}

/** A request's parameters without ClientToken and DryRun: the same token must come with the same fingerprint. */
export function fingerprint(params: Params): string {
  return JSON.stringify(
    params
      .entries()
      .filter(([key]) => key !== 'ClientToken' && key !== 'DryRun')
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
  );
}

/** Block device mappings of the template, overridden device by device by the request's. */
function mergeMappings(
  base: readonly BlockDeviceSpec[],
  request: readonly BlockDeviceSpec[],
): BlockDeviceSpec[] {
  const byDevice = new Map<string, BlockDeviceSpec>();
  for (const mapping of [...base, ...request]) byDevice.set(mapping.deviceName, mapping);
  const merged = [...byDevice.values()].filter((m) => !m.noDevice);
  if (!merged.some((m) => m.deviceName === ROOT_DEVICE) && !byDevice.get(ROOT_DEVICE)?.noDevice) {
    merged.unshift({ deviceName: ROOT_DEVICE, ebs: {} });
  }
  return merged.filter((m) => m.ebs !== undefined);
}

interface VolumePlan {
  deviceName: string;
  size: number;
  volumeType: string;
  snapshotId?: string;
  iops?: number;
  encrypted: boolean;
  deleteOnTermination: boolean;
}

function planVolumes(state: Ec2State, mappings: readonly BlockDeviceSpec[]): VolumePlan[] {
  return mappings.map((mapping) => {
    const ebs = mapping.ebs ?? {};
    let size = ebs.volumeSize;
    if (ebs.snapshotId !== undefined) {
      const snapshot = state.snapshot(ebs.snapshotId);
      if (snapshot.state !== 'completed') {
        throw incorrectState(`Snapshot is in invalid state - ${snapshot.state}`);
      }
      if (size !== undefined && size < snapshot.volumeSize) {
        throw invalidParameterValue(
          `Volume of size ${size}GB is smaller than snapshot '${snapshot.snapshotId}', expect size >= ${snapshot.volumeSize}GB`,
        );
      }
      size ??= snapshot.volumeSize;
    }
    const volumeType = ebs.volumeType ?? 'gp3';
    return {
      deviceName: mapping.deviceName,
      size: size ?? DEFAULT_ROOT_SIZE,
      volumeType,
      snapshotId: ebs.snapshotId,
      iops: ebs.iops ?? (volumeType === 'gp3' ? 3000 : undefined),
      encrypted: ebs.encrypted ?? false,
      deleteOnTermination: ebs.deleteOnTermination ?? true,
    };
  });
}

/** How a fleet launches through the same plan as RunInstances: its market and its tags win over the template's. */
export interface FleetLaunchOptions {
  market: Market;
  maxPrice?: string;
  interruptionBehavior: 'terminate' | 'stop' | 'hibernate';
  instanceTags: Tags;
}

export interface LaunchPlan {
  token?: string;
  /** Instances to launch: MaxCount, or fewer once {@link reserveCapacity} knows the pool's room. */
  count: number;
  minCount: number;
  pool: Pool;
  template?: { template: LaunchTemplate; version: LaunchTemplateVersion };
  imageId: string;
  instanceType: string;
  keyName?: string;
  subnet: Subnet;
  primaryIp?: string;
  secondaryIpCount: number;
  primaryDeleteOnTermination: boolean;
  securityGroupIds: string[];
  volumes: VolumePlan[];
  spot?: Instance['spot'];
  disableApiTermination: boolean;
  wantsPublicIp: boolean;
  tags: { instance: Tags; volume: Tags; networkInterface: Tags };
}

/** Validates a RunInstances request (or a fleet's launch, with `fleet`) and says what it would launch. */
export function planLaunch(state: Ec2State, params: Params, fleet?: FleetLaunchOptions): LaunchPlan {
  const minCount = params.int('MinCount');
  const maxCount = params.int('MaxCount');
  if (minCount === undefined) throw missingParameter('MinCount');
  if (maxCount === undefined) throw missingParameter('MaxCount');
  if (minCount < 1 || maxCount < minCount) {
    throw invalidParameterValue(`Invalid values: MinCount ${minCount}, MaxCount ${maxCount}`);
  }

  let template: LaunchPlan['template'];
  if (params.scope('LaunchTemplate').present()) {
    const found = findTemplate(
      state,
      params.get('LaunchTemplate.LaunchTemplateId'),
      params.get('LaunchTemplate.LaunchTemplateName'),
    );
    template = { template: found, version: findVersion(found, params.get('LaunchTemplate.Version')) };
  }
  const request = parseLaunchData(params);
  const base: Partial<LaunchData> = template?.version.data ?? {};

  const imageId = request.imageId ?? base.imageId;
  if (!imageId) throw missingParameter('ImageId');
  if (!isWellFormedId('ami', imageId)) throw malformed('InvalidAMIID.Malformed', imageId, 'ami');
  const instanceType = request.instanceType ?? base.instanceType ?? 'm1.small';
  if (!/^[a-z][a-z0-9-]*\.[a-z0-9-]+$/.test(instanceType)) {
    throw invalidParameterValue(`Invalid value '${instanceType}' for InstanceType.`);
  }

  const subnetParam = params.get('SubnetId');
  const ipParam = params.get('PrivateIpAddress');
  if (subnetParam !== undefined && request.networkInterfaces.length) {
    throw invalidParameterCombination(
      'Network interfaces and an instance-level subnet ID may not be specified on the same request',
    );
  }
  if (ipParam !== undefined && request.networkInterfaces.length) {
    throw invalidParameterCombination(
      'Network interfaces and an instance-level private IP address may not be specified on the same request',
    );
  }
  const interfaces = request.networkInterfaces.length
    ? request.networkInterfaces
    : (base.networkInterfaces ?? []);
  const primarySpec = interfaces.find((spec) => (spec.deviceIndex ?? 0) === 0);
  if (interfaces.some((spec) => (spec.deviceIndex ?? 0) !== 0 || spec.networkInterfaceId !== undefined)) {
    throw new AwsError(
      'Unsupported',
      'The local cloud launches instances with one new primary network interface only.',
    );
  }
  const zone = request.availabilityZone ?? base.availabilityZone;
  if (zone !== undefined) state.assertZone(zone);
  const subnetId = subnetParam ?? primarySpec?.subnetId;
  const marketType = request.marketType ?? base.marketType;
  const market: Market = fleet?.market ?? (marketType === 'spot' ? 'spot' : 'on-demand');
  // Without a subnet or zone, EC2 picks a default subnet in a zone that has capacity.
  const roomyZone = state.availabilityZones.find(
    (z) => state.capacity.available({ availabilityZone: z, instanceType, market }) >= minCount,
  );
  const subnet =
    subnetId !== undefined
      ? state.subnet(subnetId)
      : state.defaultSubnet(zone ?? roomyZone ?? state.availabilityZones[0]);
  if (zone !== undefined && subnet.availabilityZone !== zone) {
    throw invalidParameterCombination(
      `The subnet ${subnet.subnetId} is not in the availability zone ${zone}.`,
    );
  }

  const primaryIp = ipParam ?? primarySpec?.privateIpAddress;
  if (primaryIp !== undefined) {
    if (maxCount > 1) {
      throw invalidParameterCombination(
        'Cannot specify a private IP address when launching more than one instance.',
      );
    }
    state.assertIpInSubnet(subnet, primaryIp);
    if (state.ipOwner(subnet.subnetId, primaryIp)) {
      throw new AwsError('InvalidIPAddress.InUse', `Address ${primaryIp} is in use.`);
    }
  }
  const secondaryIpCount = primarySpec?.secondaryPrivateIpAddressCount ?? 0;
  if (secondaryIpCount + 1 > ipLimitPerInterface(instanceType)) {
    throw new AwsError('PrivateIpAddressLimitExceeded', `Number of private addresses will exceed limit.`);
  }
  const addressesNeeded = maxCount * (1 + secondaryIpCount) - (primaryIp !== undefined ? 1 : 0);
  if (addressesNeeded > 0) state.freeIps(subnet, addressesNeeded, new Set(primaryIp ? [primaryIp] : []));

  const spotOptions = fleet
    ? { maxPrice: fleet.maxPrice, instanceInterruptionBehavior: fleet.interruptionBehavior }
    : request.marketType
      ? request.spotOptions
      : (request.spotOptions ?? base.spotOptions);
  const tagSpecifications = [...(base.tagSpecifications ?? []), ...request.tagSpecifications];
  const tagsOf = (type: string) => {
    const tags: Tags = new Map();
    for (const spec of tagSpecifications) {
      if (spec.resourceType === type) for (const [key, value] of spec.tags) tags.set(key, value);
    }
    return tags;
  };
  const instanceTags = tagsOf('instance');
  for (const [key, value] of fleet?.instanceTags ?? []) instanceTags.set(key, value);
  if (template) {
    instanceTags.set('aws:ec2launchtemplate:id', template.template.launchTemplateId);
    instanceTags.set('aws:ec2launchtemplate:version', String(template.version.versionNumber));
  }

  const volumes = planVolumes(
    state,
    mergeMappings(base.blockDeviceMappings ?? [], request.blockDeviceMappings),
  );

  const groupIds = primarySpec?.groups.length
    ? primarySpec.groups
    : request.securityGroupIds.length
      ? request.securityGroupIds
      : (base.securityGroupIds ?? []);
  return {
    token: params.get('ClientToken'),
    count: maxCount,
    minCount,
    pool: { availabilityZone: subnet.availabilityZone, instanceType, market },
    template,
    imageId,
    instanceType,
    keyName: request.keyName ?? base.keyName,
    subnet,
    primaryIp,
    secondaryIpCount,
    primaryDeleteOnTermination: primarySpec?.deleteOnTermination ?? true,
    securityGroupIds: groupIds.length ? groupIds : [state.vpcs.get(subnet.vpcId)!.defaultSecurityGroupId],
    volumes,
    spot:
      market === 'spot'
        ? {
            requestId: newSpotRequestId(),
            type: spotOptions?.spotInstanceType ?? 'one-time',
            interruptionBehavior: spotOptions?.instanceInterruptionBehavior ?? 'terminate',
            maxPrice: spotOptions?.maxPrice,
          }
        : undefined,
    disableApiTermination: request.disableApiTermination ?? base.disableApiTermination ?? false,
    wantsPublicIp: primarySpec?.associatePublicIpAddress ?? subnet.mapPublicIpOnLaunch,
    tags: { instance: instanceTags, volume: tagsOf('volume'), networkInterface: tagsOf('network-interface') },
  };
}

/**
 * Fits the plan to its pool, as EC2 does: as many instances as the pool has room for, up to
 * MaxCount, or `InsufficientInstanceCapacity` below MinCount; a Spot launch whose maximum price
 * (default: the On-Demand price) is under the pool's Spot price fails with `SpotMaxPriceTooLow`.
 */
export function reserveCapacity(state: Ec2State, plan: LaunchPlan) {
  const { pool } = plan;
  if (pool.market === 'spot') {
    // Without a MaxPrice, EC2 pays up to the On-Demand price.
    const maxPrice = plan.spot?.maxPrice ?? formatPrice(state.prices.onDemandPrice(pool.instanceType));
    const spotPrice = state.prices.spotPrice(pool.instanceType, pool.availabilityZone);
    if (Number(maxPrice) < spotPrice) {
      throw new AwsError(
        'SpotMaxPriceTooLow',
        `Your Spot request price of ${maxPrice} is lower than the minimum required Spot request fulfillment price of ${formatPrice(spotPrice)}.`,
      );
    }
  }
  const room = state.capacity.available(pool);
  if (room < plan.minCount) throw capacityError(state, pool);
  plan.count = Math.min(plan.count, room);
}

/** Launches a reserved plan as one reservation: the instances take their pool's slots and boot. */
export function launchReservation(
  state: Ec2State,
  plan: LaunchPlan,
): { reservationId: string; instances: Instance[] } {
  const reservationId = newId('r');
  const instances = Array.from({ length: plan.count }, (_, index) =>
    launch(state, plan, reservationId, index),
  );
  state.reservations.set(reservationId, {
    reservationId,
    instanceIds: instances.map((i) => i.instanceId),
    securityGroupIds: plan.securityGroupIds,
  });
  state.capacity.take(plan.pool, instances.length);
  for (const instance of instances) boot(state, instance);
  return { reservationId, instances };
}

function launch(state: Ec2State, plan: LaunchPlan, reservationId: string, index: number): Instance {
  const now = state.now();
  const instance: Instance = {
    instanceId: newId('i'),
    reservationId,
    imageId: plan.imageId,
    instanceType: plan.instanceType,
    keyName: plan.keyName,
    state: 'pending',
    stateTransitionReason: '',
    launchTime: now,
    amiLaunchIndex: index,
    availabilityZone: plan.subnet.availabilityZone,
    subnetId: plan.subnet.subnetId,
    vpcId: plan.subnet.vpcId,
    spot: plan.spot && { ...plan.spot, requestId: index === 0 ? plan.spot.requestId : newSpotRequestId() },
    clientToken: plan.token,
    rootDeviceName: ROOT_DEVICE,
    tags: new Map(plan.tags.instance),
    securityGroupIds: plan.securityGroupIds,
    disableApiTermination: plan.disableApiTermination,
    wantsPublicIp: plan.wantsPublicIp,
    launchTemplate: plan.template && {
      id: plan.template.template.launchTemplateId,
      version: String(plan.template.version.versionNumber),
    },
  };
  state.instances.set(instance.instanceId, instance);

  const eni = state.createInterface(plan.subnet, {
    primaryIp: index === 0 ? plan.primaryIp : undefined,
    secondaryCount: plan.secondaryIpCount,
    securityGroupIds: plan.securityGroupIds,
    tags: new Map(plan.tags.networkInterface),
  });
  eni.status = 'in-use';
  eni.attachment = {
    attachmentId: newId('eni-attach'),
    instanceId: instance.instanceId,
    deviceIndex: 0,
    status: 'attached',
    attachTime: now,
    deleteOnTermination: plan.primaryDeleteOnTermination,
  };

  for (const volume of plan.volumes) {
    const volumeId = newId('vol');
    state.volumes.set(volumeId, {
      volumeId,
      size: volume.size,
      snapshotId: volume.snapshotId,
      availabilityZone: plan.subnet.availabilityZone,
      state: 'in-use',
      volumeType: volume.volumeType,
      iops: volume.iops,
      throughput: volume.volumeType === 'gp3' ? 125 : undefined,
      encrypted: volume.encrypted,
      createTime: now,
      tags: new Map(plan.tags.volume),
      attachment: {
        instanceId: instance.instanceId,
        device: volume.deviceName,
        state: 'attached',
        attachTime: now,
        deleteOnTermination: volume.deleteOnTermination,
      },
      attachSeq: state.nextAttachSeq(),
    });
  }
  return instance;
}

/** A pending or running instance holds a slot of its pool; a stopped or stopping one has given it back. */
const holdsCapacity = (instance: Instance) => instance.state === 'pending' || instance.state === 'running';

function stateChange(instance: Instance, previous: Instance['state']): XmlObject {
  return {
    instanceId: instance.instanceId,
    currentState: { code: STATE_CODES[instance.state], name: instance.state },
    previousState: { code: STATE_CODES[previous], name: previous },
  };
}

function requiredInstances(state: Ec2State, params: Params): Instance[] {
  const ids = params.strings('InstanceId');
  if (!ids.length) throw missingParameter('InstanceId');
  return instancesById(state, ids);
}

export const instanceActions: Record<string, Action> = {
  RunInstances({ params, state, commit }) {
    const token = clientToken(params);
    const print = fingerprint(params);
    const earlier = token !== undefined ? state.clientTokens.get(token) : undefined;
    if (earlier) {
      if (earlier.fingerprint !== print) {
        throw idempotentParameterMismatch(token!);
      }
      commit();
      const reservation = state.reservations.get(earlier.reservationId);
      const instances = (reservation?.instanceIds ?? [])
        .map((id) => state.instances.get(id))
        .filter((i): i is Instance => i !== undefined);
      return renderReservation(state, earlier.reservationId, instances);
    }
    const plan = planLaunch(state, params);
    reserveCapacity(state, plan);
    commit();
    const { reservationId, instances } = launchReservation(state, plan);
    if (token !== undefined) state.clientTokens.set(token, { fingerprint: print, reservationId });
    return renderReservation(state, reservationId, instances);
  },

  DescribeInstances({ params, state }) {
    const ids = params.strings('InstanceId');
    if (ids.length && params.get('MaxResults') !== undefined) {
      throw invalidParameterCombination(
        'The parameter instancesSet cannot be used with the parameter maxResults',
      );
    }
    const instances = ids.length ? instancesById(state, ids) : [...state.instances.values()];
    const filtered = applyFilters(
      instances,
      params,
      {
        'instance-id': (i) => i.instanceId,
        'instance-state-name': (i) => i.state,
        'instance-state-code': (i) => String(STATE_CODES[i.state]),
        'instance-type': (i) => i.instanceType,
        'instance-lifecycle': (i) => (i.spot ? 'spot' : undefined),
        'spot-instance-request-id': (i) => i.spot?.requestId,
        'availability-zone': (i) => i.availabilityZone,
        'subnet-id': (i) => (i.state === 'terminated' ? undefined : i.subnetId),
        'vpc-id': (i) => (i.state === 'terminated' ? undefined : i.vpcId),
        'client-token': (i) => i.clientToken,
        'image-id': (i) => i.imageId,
        'reservation-id': (i) => i.reservationId,
        'key-name': (i) => i.keyName,
        'private-ip-address': (i) =>
          state.interfacesOf(i.instanceId)[0]?.privateIps.find((ip) => ip.primary)?.address,
        'network-interface.network-interface-id': (i) =>
          state.interfacesOf(i.instanceId).map((n) => n.networkInterfaceId),
        'network-interface.addresses.private-ip-address': (i) =>
          state.interfacesOf(i.instanceId).flatMap((n) => n.privateIps.map((ip) => ip.address)),
        'block-device-mapping.volume-id': (i) => state.volumesOf(i.instanceId).map((v) => v.volumeId),
        'block-device-mapping.device-name': (i) =>
          state.volumesOf(i.instanceId).map((v) => v.attachment!.device),
      },
      (i) => i.tags,
    );
    const page = pageOf(filtered, params);
    const reservations = new Map<string, Instance[]>();
    for (const instance of page.items) {
      const group = reservations.get(instance.reservationId) ?? [];
      group.push(instance);
      reservations.set(instance.reservationId, group);
    }
    return {
      reservationSet: [...reservations].map(([reservationId, group]) =>
        renderReservation(state, reservationId, group),
      ),
      nextToken: page.next,
    };
  },

  TerminateInstances({ params, state, commit }) {
    const instances = requiredInstances(state, params);
    for (const instance of instances) {
      if (instance.disableApiTermination && instance.state !== 'terminated') {
        throw operationNotPermitted(
          `The instance '${instance.instanceId}' may not be terminated. Modify its 'disableApiTermination' instance attribute and try again.`,
        );
      }
    }
    commit();
    return {
      instancesSet: instances.map((instance) => {
        const previous = instance.state;
        if (previous !== 'terminated' && previous !== 'shutting-down') {
          if (holdsCapacity(instance)) state.capacity.release(state.poolOf(instance));
          beginTermination(state, instance, USER_SHUTDOWN, 'User');
        }
        return stateChange(instance, previous);
      }),
    };
  },

  StopInstances({ params, state, commit }) {
    const instances = requiredInstances(state, params);
    for (const instance of instances) {
      if (['pending', 'shutting-down', 'terminated'].includes(instance.state)) {
        throw incorrectInstanceState(instance.instanceId, instance.state, 'stopped');
      }
      if (instance.spot && instance.spot.type === 'one-time') {
        throw new AwsError(
          'UnsupportedOperation',
          `You can't stop the Spot Instance '${instance.instanceId}' because it is associated with a one-time Spot Instance request. You can only stop Spot Instances associated with persistent Spot Instance requests.`,
        );
      }
    }
    commit();
    return {
      instancesSet: instances.map((instance) => {
        const previous = instance.state;
        if (previous === 'running') {
          state.capacity.release(state.poolOf(instance));
          beginStop(state, instance, USER_SHUTDOWN, 'User');
        }
        return stateChange(instance, previous);
      }),
    };
  },

  StartInstances({ params, state, commit }) {
    const instances = requiredInstances(state, params);
    for (const instance of instances) {
      if (['stopping', 'shutting-down', 'terminated'].includes(instance.state)) {
        throw incorrectInstanceState(instance.instanceId, instance.state, 'started');
      }
      if (instance.state === 'stopped' && state.capacity.available(state.poolOf(instance)) < 1) {
        throw capacityError(state, state.poolOf(instance));
      }
    }
    commit();
    return {
      instancesSet: instances.map((instance) => {
        const previous = instance.state;
        if (previous === 'stopped') {
          state.capacity.take(state.poolOf(instance), 1);
          instance.launchTime = state.now();
          boot(state, instance);
        }
        return stateChange(instance, previous);
      }),
    };
  },

  ModifyInstanceAttribute({ params, state, commit }) {
    const instance = state.instance(params.required('InstanceId'));
    const attribute = params.get('Attribute');
    const changes: (() => void)[] = [];

    for (const mapping of params.structs('BlockDeviceMapping')) {
      const device = mapping.required('DeviceName');
      const deleteOnTermination = mapping.bool('Ebs.DeleteOnTermination');
      const volume = state.volumesOf(instance.instanceId).find((v) => v.attachment!.device === device);
      if (!volume) {
        throw new AwsError('InvalidInstanceAttributeValue', `No device is currently mapped at ${device}`);
      }
      const volumeId = mapping.get('Ebs.VolumeId');
      if (volumeId !== undefined && volumeId !== volume.volumeId) {
        throw invalidParameterValue(`Volume ${volumeId} is not attached at ${device}`);
      }
      if (deleteOnTermination !== undefined)
        changes.push(() => (volume.attachment!.deleteOnTermination = deleteOnTermination));
    }

    const instanceType =
      params.get('InstanceType.Value') ?? (attribute === 'instanceType' ? params.get('Value') : undefined);
    if (instanceType !== undefined) {
      if (instance.state !== 'stopped')
        throw incorrectInstanceState(instance.instanceId, instance.state, 'modified');
      changes.push(() => (instance.instanceType = instanceType));
    }

    const disable =
      params.bool('DisableApiTermination.Value') ??
      (attribute === 'disableApiTermination' ? params.bool('Value') : undefined);
    if (disable !== undefined) changes.push(() => (instance.disableApiTermination = disable));

    const sourceDestCheck = params.bool('SourceDestCheck.Value');
    if (sourceDestCheck !== undefined) {
      const primary = state.interfacesOf(instance.instanceId)[0];
      if (primary) changes.push(() => (primary.sourceDestCheck = sourceDestCheck));
    }

    if (!changes.length) throw missingParameter('an attribute to modify');
    if (instance.state === 'terminated')
      throw incorrectInstanceState(instance.instanceId, instance.state, 'modified');
    commit();
    for (const change of changes) change();
    return ok;
  },
};
