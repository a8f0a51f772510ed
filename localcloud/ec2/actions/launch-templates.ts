import { AwsError } from '../../contracts.ts';
import type { Params } from '../../query.ts';
import { invalidParameterCombination, invalidParameterValue, missingParameter, notFound } from '../errors.ts';
import { isWellFormedId, newId } from '../ids.ts';
import type {
  BlockDeviceSpec,
  LaunchData,
  LaunchTemplate,
  LaunchTemplateVersion,
  NetworkInterfaceSpec,
} from '../model.ts';
import { applyFilters, pageOf } from '../query.ts';
import { renderLaunchTemplate, renderLaunchTemplateVersion } from '../render.ts';
import type { Ec2State } from '../state.ts';
import { type Action, parseTagSpecifications, tagsFor } from './context.ts';

const VOLUME_TYPES = ['standard', 'gp2', 'gp3', 'io1', 'io2', 'st1', 'sc1'];
/** Resource types a launch template (and RunInstances) may tag. */
export const LAUNCH_TAG_TYPES = ['instance', 'volume', 'network-interface', 'spot-instances-request'];

function oneOf<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  name: string,
): T | undefined {
  if (value === undefined) return undefined;
  if (!allowed.includes(value as T)) {
    throw invalidParameterValue(
      `Value (${value}) for parameter ${name} is invalid. Expected one of ${allowed.join(', ')}.`,
    );
  }
  return value as T;
}

function parseBlockDevice(b: Params): BlockDeviceSpec {
  const deviceName = b.required('DeviceName');
  const spec: BlockDeviceSpec = { deviceName };
  if (b.get('NoDevice') !== undefined) spec.noDevice = true;
  const virtualName = b.get('VirtualName');
  if (virtualName !== undefined) spec.virtualName = virtualName;
  if (b.has('Ebs')) {
    const ebs = b.scope('Ebs');
    const volumeSize = ebs.int('VolumeSize');
    if (volumeSize !== undefined && (volumeSize < 1 || volumeSize > 65_536)) {
      throw invalidParameterValue(`Volume of ${volumeSize}GiB is out of range for ${deviceName}`);
    }
    spec.ebs = {
      volumeSize,
      volumeType: oneOf(ebs.get('VolumeType'), VOLUME_TYPES, 'VolumeType'),
      snapshotId: ebs.get('SnapshotId'),
      deleteOnTermination: ebs.bool('DeleteOnTermination'),
      iops: ebs.int('Iops'),
      encrypted: ebs.bool('Encrypted'),
    };
  }
  return spec;
}

function parseInterface(n: Params): NetworkInterfaceSpec {
  return {
    deviceIndex: n.int('DeviceIndex'),
    subnetId: n.get('SubnetId'),
    networkInterfaceId: n.get('NetworkInterfaceId'),
    deleteOnTermination: n.bool('DeleteOnTermination'),
    privateIpAddress: n.get('PrivateIpAddress'),
    secondaryPrivateIpAddressCount: n.int('SecondaryPrivateIpAddressCount'),
    groups: n.strings('SecurityGroupId'),
    description: n.get('Description'),
    associatePublicIpAddress: n.bool('AssociatePublicIpAddress'),
  };
}

/**
 * Launch parameters under `params` (a launch template's `LaunchTemplateData.` or a RunInstances
 * request: both use the same names).
 */
export function parseLaunchData(params: Params): LaunchData {
  const market = params.scope('InstanceMarketOptions');
  const spot = market.scope('SpotOptions');
  const marketType = oneOf(market.get('MarketType'), ['spot', 'capacity-block'], 'MarketType');
  const spotInstanceType = oneOf(
    spot.get('SpotInstanceType'),
    ['one-time', 'persistent'],
    'SpotInstanceType',
  );
  const instanceInterruptionBehavior = oneOf(
    spot.get('InstanceInterruptionBehavior'),
    ['terminate', 'stop', 'hibernate'],
    'InstanceInterruptionBehavior',
  );
  if (
    spotInstanceType !== 'persistent' &&
    instanceInterruptionBehavior &&
    instanceInterruptionBehavior !== 'terminate'
  ) {
    throw invalidParameterCombination(
      `The Spot instance interruption behavior '${instanceInterruptionBehavior}' is only supported for persistent Spot requests.`,
    );
  }
  const iam = params.scope('IamInstanceProfile');
  return {
    imageId: params.get('ImageId'),
    instanceType: params.get('InstanceType'),
    keyName: params.get('KeyName'),
    securityGroupIds: params.strings('SecurityGroupId'),
    marketType,
    spotOptions: spot.present()
      ? { maxPrice: spot.get('MaxPrice'), spotInstanceType, instanceInterruptionBehavior }
      : undefined,
    tagSpecifications: parseTagSpecifications(params, LAUNCH_TAG_TYPES),
    blockDeviceMappings: params.structs('BlockDeviceMapping').map(parseBlockDevice),
    networkInterfaces: params.structs('NetworkInterface').map(parseInterface),
    availabilityZone: params.get('Placement.AvailabilityZone'),
    disableApiTermination: params.bool('DisableApiTermination'),
    userData: params.get('UserData'),
    iamInstanceProfile: iam.present() ? { arn: iam.get('Arn'), name: iam.get('Name') } : undefined,
  };
}

function assertTemplateName(name: string) {
  if (!/^[a-zA-Z0-9().\-/_]{3,128}$/.test(name)) {
    throw invalidParameterValue(
      `Launch template name must be between 3 and 128 characters, and may contain letters, numbers, and the following characters: - ( ) . / _.'`,
    );
  }
}

/** A template by `LaunchTemplateId` or `LaunchTemplateName` (exactly one of them). */
export function findTemplate(
  state: Ec2State,
  id: string | undefined,
  name: string | undefined,
): LaunchTemplate {
  if (id !== undefined && name !== undefined) {
    throw invalidParameterCombination(
      'Specify either a launch template ID or a launch template name, not both.',
    );
  }
  if (id !== undefined) {
    if (!isWellFormedId('lt', id))
      throw new AwsError('InvalidLaunchTemplateId.Malformed', `The launch template ID '${id}' is malformed.`);
    const template = state.launchTemplates.get(id);
    if (!template) throw notFound('InvalidLaunchTemplateId.NotFound', id);
    return template;
  }
  if (name !== undefined) {
    const template = [...state.launchTemplates.values()].find((t) => t.launchTemplateName === name);
    if (!template) throw notFound('InvalidLaunchTemplateName.NotFoundException', name);
    return template;
  }
  throw missingParameter('LaunchTemplateId or LaunchTemplateName');
}

/** `$Latest`, `$Default` or a version number; absent means `$Default`. */
export function findVersion(template: LaunchTemplate, version: string | undefined): LaunchTemplateVersion {
  const number =
    version === undefined || version === '$Default'
      ? template.defaultVersion
      : version === '$Latest'
        ? template.versions.at(-1)!.versionNumber
        : Number(version);
  const found = template.versions.find((v) => v.versionNumber === number);
  if (!found) {
    throw new AwsError(
      'InvalidLaunchTemplateId.VersionNotFound',
      `Could not find launch template version ${version} for launch template ${template.launchTemplateId}.`,
    );
  }
  return found;
}

export const launchTemplateActions: Record<string, Action> = {
  CreateLaunchTemplate({ params, state, commit }) {
    const name = params.required('LaunchTemplateName');
    assertTemplateName(name);
    if (!params.has('LaunchTemplateData')) throw missingParameter('LaunchTemplateData');
    const data = parseLaunchData(params.scope('LaunchTemplateData'));
    const tags = tagsFor(parseTagSpecifications(params, ['launch-template']), 'launch-template');
    const token = params.get('ClientToken');
    const earlier = token ? state.launchTemplateTokens.get(token) : undefined;
    if (earlier && state.launchTemplates.has(earlier)) {
      commit();
      return { launchTemplate: renderLaunchTemplate(state.launchTemplates.get(earlier)!, state.accountId) };
    }
    if ([...state.launchTemplates.values()].some((t) => t.launchTemplateName === name)) {
      throw new AwsError(
        'InvalidLaunchTemplateName.AlreadyExistsException',
        `Launch template name already in use.`,
      );
    }
    commit();
    const now = state.now();
    const template: LaunchTemplate = {
      launchTemplateId: newId('lt'),
      launchTemplateName: name,
      createTime: now,
      defaultVersion: 1,
      versions: [{ versionNumber: 1, description: params.get('VersionDescription'), createTime: now, data }],
      tags,
    };
    state.launchTemplates.set(template.launchTemplateId, template);
    if (token) state.launchTemplateTokens.set(token, template.launchTemplateId);
    return { launchTemplate: renderLaunchTemplate(template, state.accountId) };
  },

  CreateLaunchTemplateVersion({ params, state, commit }) {
    const template = findTemplate(state, params.get('LaunchTemplateId'), params.get('LaunchTemplateName'));
    if (!params.has('LaunchTemplateData')) throw missingParameter('LaunchTemplateData');
    const data = parseLaunchData(params.scope('LaunchTemplateData'));
    const source = params.get('SourceVersion');
    const base = source !== undefined ? findVersion(template, source).data : undefined;
    const merged: LaunchData = base
      ? {
          ...base,
          ...Object.fromEntries(
            Object.entries(data).filter(
              ([, value]) => value !== undefined && !(Array.isArray(value) && value.length === 0),
            ),
          ),
        }
      : data;
    commit();
    const version: LaunchTemplateVersion = {
      versionNumber: template.versions.at(-1)!.versionNumber + 1,
      description: params.get('VersionDescription'),
      createTime: state.now(),
      data: merged,
    };
    template.versions.push(version);
    return { launchTemplateVersion: renderLaunchTemplateVersion(template, version, state.accountId) };
  },

  ModifyLaunchTemplate({ params, state, commit }) {
    const template = findTemplate(state, params.get('LaunchTemplateId'), params.get('LaunchTemplateName'));
    const version = params.get('SetDefaultVersion');
    const found = version !== undefined ? findVersion(template, version) : undefined;
    commit();
    if (found) template.defaultVersion = found.versionNumber;
    return { launchTemplate: renderLaunchTemplate(template, state.accountId) };
  },

  DescribeLaunchTemplates({ params, state }) {
    const ids = params.strings('LaunchTemplateId');
    const names = params.strings('LaunchTemplateName');
    let templates = [...state.launchTemplates.values()];
    if (ids.length) templates = ids.map((id) => findTemplate(state, id, undefined));
    if (names.length) templates = names.map((name) => findTemplate(state, undefined, name));
    const filtered = applyFilters(
      templates,
      params,
      {
        'launch-template-name': (t) => t.launchTemplateName,
        'create-time': (t) => t.createTime.toISOString(),
      },
      (t) => t.tags,
    );
    const page = pageOf(filtered, params, { min: 1, max: 200 });
    return {
      launchTemplates: page.items.map((t) => renderLaunchTemplate(t, state.accountId)),
      nextToken: page.next,
    };
  },

  DescribeLaunchTemplateVersions({ params, state }) {
    const template = findTemplate(state, params.get('LaunchTemplateId'), params.get('LaunchTemplateName'));
    const requested = params.strings('LaunchTemplateVersion');
    let versions = requested.length ? requested.map((v) => findVersion(template, v)) : template.versions;
    const min = params.int('MinVersion');
    const max = params.int('MaxVersion');
    versions = versions.filter(
      (v) => (min === undefined || v.versionNumber >= min) && (max === undefined || v.versionNumber <= max),
    );
    const filtered = applyFilters(
      versions,
      params,
      {
        'is-default-version': (v) => String(v.versionNumber === template.defaultVersion),
        'image-id': (v) => v.data.imageId,
        'instance-type': (v) => v.data.instanceType,
      },
      () => new Map(),
    );
    const page = pageOf(filtered, params, { min: 1, max: 200 });
    return {
      launchTemplateVersionSet: page.items.map((v) =>
        renderLaunchTemplateVersion(template, v, state.accountId),
      ),
      nextToken: page.next,
    };
  },
};
