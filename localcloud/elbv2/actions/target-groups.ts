import { AwsError } from '../../contracts.ts';
import { compareKeys } from '../../query.ts';
import {
  arnSuffix,
  defaultAttributes,
  HEALTH_CHECK_PROTOCOLS,
  healthCheckWithDefaults,
  sameSettings,
  TARGET_GROUP_PROTOCOLS,
  TARGET_TYPES,
  type TargetGroupRecord,
  type TargetGroupSettings,
  validateAttribute,
  validateResourceName,
} from '../model.ts';
import { oneOf, pageOf, validationError } from '../query.ts';
import { members, renderAttributes, renderTargetGroup } from '../render.ts';
import type { Action } from './context.ts';

/** Target groups and their attributes. */
export const targetGroupActions: Record<string, Action> = {
  CreateTargetGroup({ params, state }) {
    const name = params.required('Name');
    validateResourceName('target group', name);
    const targetType = oneOf(params, 'TargetType', TARGET_TYPES, 'instance')!;
    if (targetType !== 'instance' && targetType !== 'ip') {
      throw validationError(
        `Target type '${targetType}' is not supported by the local cloud: use 'instance' or 'ip'`,
      );
    }
    const protocol = oneOf(params, 'Protocol', TARGET_GROUP_PROTOCOLS);
    if (protocol === undefined) throw validationError('A protocol must be specified');
    const port = params.int('Port', { min: 1, max: 65535 });
    if (port === undefined) throw validationError('A port must be specified');
    const vpcId = params.get('VpcId');
    if (!vpcId) throw validationError('A VPC ID must be specified');
    const http = protocol === 'HTTP' || protocol === 'HTTPS';
    if (!http && params.get('ProtocolVersion')) {
      throw validationError('A protocol version can only be specified for HTTP and HTTPS target groups');
    }
    const protocolVersion = http
      ? oneOf(params, 'ProtocolVersion', ['HTTP1', 'HTTP2', 'GRPC'] as const, 'HTTP1')
      : undefined;
    oneOf(params, 'IpAddressType', ['ipv4'] as const, 'ipv4');
    const healthCheck = healthCheckWithDefaults(
      protocol,
      {
        enabled: params.bool('HealthCheckEnabled'),
        protocol: oneOf(params, 'HealthCheckProtocol', HEALTH_CHECK_PROTOCOLS),
        port: params.get('HealthCheckPort') || undefined,
        path: params.get('HealthCheckPath') || undefined,
        intervalSeconds: params.int('HealthCheckIntervalSeconds', { min: 5, max: 300 }),
        timeoutSeconds: params.int('HealthCheckTimeoutSeconds', { min: 2, max: 120 }),
        healthyThreshold: params.int('HealthyThresholdCount', { min: 2, max: 10 }),
        unhealthyThreshold: params.int('UnhealthyThresholdCount', { min: 2, max: 10 }),
        httpCode: params.get('Matcher.HttpCode') || undefined,
        grpcCode: params.get('Matcher.GrpcCode') || undefined,
      },
      protocolVersion,
    );
    const settings: TargetGroupSettings = { protocol, protocolVersion, port, vpcId, targetType, healthCheck };

    const existing = [...state.targetGroups.values()].find((group) => group.name === name);
    if (existing) {
      if (!sameSettings(existing, settings)) {
        throw new AwsError(
          'DuplicateTargetGroupName',
          `A target group with the same name '${name}' exists, but with different settings`,
        );
      }
      return { TargetGroups: members([renderTargetGroup(existing)]) };
    }
    const { region, accountId } = state.deps;
    const group: TargetGroupRecord = {
      ...settings,
      arn: `arn:aws:elasticloadbalancing:${region}:${accountId}:targetgroup/${name}/${arnSuffix()}`,
      name,
      ipAddressType: 'ipv4',
      attributes: defaultAttributes(protocol, targetType),
      loadBalancerArns: [],
      targets: new Map(),
    };
    state.targetGroups.set(group.arn, group);
    return { TargetGroups: members([renderTargetGroup(group)]) };
  },

  DescribeTargetGroups({ params, state }) {
    const arns = params.strings('TargetGroupArns');
    const names = params.strings('Names');
    const loadBalancerArn = params.get('LoadBalancerArn') || undefined;
    let found = [...state.targetGroups.values()].sort((a, b) => compareKeys(a.name, b.name));
    if (arns.length > 0) {
      for (const arn of arns) {
        if (!arn.startsWith('arn:')) throw validationError(`'${arn}' is not a valid target group ARN`);
      }
      const missing = arns.filter((arn) => !state.targetGroups.has(arn));
      if (missing.length > 0) {
        throw new AwsError('TargetGroupNotFound', `Target groups '${missing.join("', '")}' not found`);
      }
      found = found.filter((group) => arns.includes(group.arn));
    }
    if (names.length > 0) {
      const missing = names.filter((name) => !found.some((group) => group.name === name));
      if (missing.length > 0) {
        throw new AwsError('TargetGroupNotFound', `Target groups '${missing.join("', '")}' not found`);
      }
      found = found.filter((group) => names.includes(group.name));
    }
    if (loadBalancerArn !== undefined) {
      state.loadBalancer(loadBalancerArn);
      found = found.filter((group) => group.loadBalancerArns.includes(loadBalancerArn));
    }
    const page = pageOf(found, params, (group) => group.name);
    return { TargetGroups: members(page.items.map(renderTargetGroup)), NextMarker: page.next };
  },

  /** Idempotent, as AWS documents no not-found error for it. */
  DeleteTargetGroup({ params, state }) {
    const arn = params.required('TargetGroupArn');
    const group = state.targetGroups.get(arn);
    if (!group) return {};
    if (group.loadBalancerArns.length > 0) {
      throw new AwsError(
        'ResourceInUse',
        `Target group '${arn}' is currently in use by a listener or a rule`,
      );
    }
    for (const registration of group.targets.values()) registration.drain?.cancel();
    state.targetGroups.delete(arn);
    return {};
  },

  DescribeTargetGroupAttributes({ params, state }) {
    return renderAttributes(state.targetGroup(params.required('TargetGroupArn')));
  },

  /** All or nothing: one invalid attribute rejects the whole call. */
  ModifyTargetGroupAttributes({ params, state }) {
    const group = state.targetGroup(params.required('TargetGroupArn'));
    const changes = params
      .structs('Attributes')
      .map((change) => ({ key: change.get('Key') ?? '', value: change.get('Value') ?? '' }));
    if (changes.length === 0) throw validationError('At least one attribute must be specified');
    for (const { key, value } of changes) validateAttribute(group.attributes, key, value);
    for (const { key, value } of changes) group.attributes.set(key, value);
    return renderAttributes(group);
  },
};
