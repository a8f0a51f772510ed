import { randomInt } from 'node:crypto';
import { AwsError } from '../../contracts.ts';
import { compareKeys } from '../../query.ts';
import { freshTrack } from '../health-over-time.ts';
import {
  arnSuffix,
  canonicalHostedZoneId,
  type ListenerRecord,
  LOAD_BALANCER_TYPES,
  type LoadBalancerRecord,
  type LoadBalancerType,
  servesProtocol,
  type TargetGroupRecord,
  validateResourceName,
} from '../model.ts';
import { oneOf, pageOf, validationError } from '../query.ts';
import { members, renderListener, renderLoadBalancer } from '../render.ts';
import type { Elbv2State } from '../state.ts';
import type { Action } from './context.ts';

/** Load balancers and their listeners: CreateLoadBalancer, DescribeLoadBalancers, CreateListener. */
export const loadBalancerActions: Record<string, Action> = {
  CreateLoadBalancer({ params, state }) {
    const name = params.required('Name');
    validateResourceName('load balancer', name);
    if (name.startsWith('internal-')) {
      throw validationError(`The load balancer name '${name}' cannot begin with 'internal-'`);
    }
    const type = oneOf(params, 'Type', LOAD_BALANCER_TYPES, 'application')!;
    if (type === 'gateway')
      throw validationError('Gateway Load Balancers are not supported by the local cloud');
    const scheme = oneOf(params, 'Scheme', ['internet-facing', 'internal'] as const, 'internet-facing')!;
    const ipAddressType = oneOf(
      params,
      'IpAddressType',
      ['ipv4', 'dualstack', 'dualstack-without-public-ipv4'] as const,
      'ipv4',
    )!;
    const subnetIds = [
      ...params.strings('Subnets'),
      ...params.structs('SubnetMappings').flatMap((mapping) => {
        const subnetId = mapping.get('SubnetId');
        return subnetId ? [subnetId] : [];
      }),
    ];
    const subnets = resolveSubnets(state, type, subnetIds);
    const securityGroups = type === 'application' ? params.strings('SecurityGroups') : [];

    const existing = [...state.loadBalancers.values()].find((lb) => lb.name === name);
    if (existing) {
      const same =
        existing.type === type &&
        existing.scheme === scheme &&
        existing.subnets.map((s) => s.subnetId).join() === subnets.subnets.map((s) => s.subnetId).join();
      if (!same) {
        throw new AwsError(
          'DuplicateLoadBalancerName',
          `A load balancer with the same name '${name}' exists, but with different settings`,
        );
      }
      return { LoadBalancers: members([renderLoadBalancer(existing, state.loadBalancerState(existing))]) };
    }

    const { region, accountId } = state.deps;
    const now = state.now();
    const kind = type === 'application' ? 'app' : 'net';
    const lb: LoadBalancerRecord = {
      arn: `arn:aws:elasticloadbalancing:${region}:${accountId}:loadbalancer/${kind}/${name}/${arnSuffix()}`,
      name,
      type,
      scheme,
      dnsName:
        type === 'application'
          ? `${scheme === 'internal' ? 'internal-' : ''}${name}-${randomInt(100_000_000, 2_147_483_647)}.${region}.elb.amazonaws.com`
          : `${name}-${arnSuffix()}.elb.${region}.amazonaws.com`,
      canonicalHostedZoneId: canonicalHostedZoneId(region, type),
      createdAt: now,
      activeAt: now + state.timing.loadBalancerProvisioningSeconds * 1000,
      vpcId: subnets.vpcId,
      subnets: subnets.subnets,
      securityGroups,
      ipAddressType,
    };
    state.loadBalancers.set(lb.arn, lb);
    return { LoadBalancers: members([renderLoadBalancer(lb, state.loadBalancerState(lb))]) };
  },

  DescribeLoadBalancers({ params, state }) {
    const arns = params.strings('LoadBalancerArns');
    const names = params.strings('Names');
    let found = [...state.loadBalancers.values()].sort((a, b) => compareKeys(a.name, b.name));
    if (arns.length > 0) {
      if (arns.some((arn) => !state.loadBalancers.has(arn))) {
        throw new AwsError('LoadBalancerNotFound', 'One or more load balancers not found');
      }
      found = found.filter((lb) => arns.includes(lb.arn));
    }
    if (names.length > 0) {
      const missing = names.filter((name) => !found.some((lb) => lb.name === name));
      if (missing.length > 0) {
        throw new AwsError('LoadBalancerNotFound', `Load balancers '[${missing.join(', ')}]' not found`);
      }
      found = found.filter((lb) => names.includes(lb.name));
    }
    const page = pageOf(found, params, (lb) => lb.name);
    return {
      LoadBalancers: members(page.items.map((lb) => renderLoadBalancer(lb, state.loadBalancerState(lb)))),
      NextMarker: page.next,
    };
  },

  CreateListener({ params, state }) {
    const lb = state.loadBalancer(params.required('LoadBalancerArn'));
    const port = params.int('Port', { min: 1, max: 65535 });
    if (port === undefined) throw validationError('A listener port must be specified');
    const allowed =
      lb.type === 'application' ? (['HTTP', 'HTTPS'] as const) : (['TCP', 'TLS', 'UDP', 'TCP_UDP'] as const);
    const protocol = params.get('Protocol') || allowed[0];
    if (!(allowed as readonly string[]).includes(protocol)) {
      throw validationError(`Listener protocol '${protocol}' must be one of '${allowed.join(', ')}'`);
    }
    const certificates = params.structs('Certificates').flatMap((c) => {
      const arn = c.get('CertificateArn');
      return arn ? [arn] : [];
    });
    if ((protocol === 'HTTPS' || protocol === 'TLS') && certificates.length === 0) {
      throw new AwsError('CertificateNotFound', `A certificate must be specified for ${protocol} listeners`);
    }
    if ([...state.listeners.values()].some((l) => l.loadBalancerArn === lb.arn && l.port === port)) {
      throw new AwsError(
        'DuplicateListener',
        `A listener already exists on this port for this load balancer '${lb.arn}'`,
      );
    }

    const actions = params.structs('DefaultActions');
    if (actions.length === 0) throw validationError('A default action must be specified');
    const forwardTo: ListenerRecord['forwardTo'] = [];
    for (const action of actions) {
      const type = action.get('Type');
      if (type !== 'forward') {
        throw validationError(
          `Action type '${type ?? ''}' is not supported by the local cloud: use 'forward'`,
        );
      }
      const weighted = action.structs('ForwardConfig.TargetGroups').map((tg) => {
        const weight = tg.get('Weight');
        return {
          targetGroupArn: tg.get('TargetGroupArn') ?? '',
          weight: weight === undefined ? 1 : Number(weight),
        };
      });
      const targets =
        weighted.length > 0 ? weighted : [{ targetGroupArn: action.get('TargetGroupArn') ?? '', weight: 1 }];
      for (const target of targets) {
        if (target.targetGroupArn === '') throw validationError('A target group ARN must be specified');
        forwardTo.push(target);
      }
    }
    const groups = forwardTo.map(({ targetGroupArn }) => state.targetGroup(targetGroupArn));
    for (const group of groups) {
      if (!servesProtocol(lb.type, group.protocol)) {
        throw new AwsError(
          'IncompatibleProtocols',
          `The target group '${group.arn}' uses protocol ${group.protocol}, which ${lb.type} load balancers do not support`,
        );
      }
      if (lb.vpcId !== undefined && group.vpcId !== lb.vpcId) {
        throw new AwsError(
          'InvalidConfigurationRequest',
          `The target group '${group.arn}' is in VPC '${group.vpcId}', not in the load balancer's VPC '${lb.vpcId}'`,
        );
      }
      if (group.loadBalancerArns.some((arn) => arn !== lb.arn)) {
        throw new AwsError(
          'TargetGroupAssociationLimit',
          `The following target groups cannot be associated with more than one load balancer: '${group.arn}'`,
        );
      }
    }

    const listener: ListenerRecord = {
      arn: `${lb.arn.replace(':loadbalancer/', ':listener/')}/${arnSuffix()}`,
      loadBalancerArn: lb.arn,
      port,
      protocol,
      forwardTo,
      certificates,
      sslPolicy:
        protocol === 'HTTPS' || protocol === 'TLS'
          ? params.get('SslPolicy') || 'ELBSecurityPolicy-TLS13-1-2-2021-06'
          : undefined,
    };
    state.listeners.set(listener.arn, listener);
    const now = state.now();
    for (const group of groups) attach(state, group, lb, now);
    return { Listeners: members([renderListener(listener)]) };
  },
};

function resolveSubnets(
  state: Elbv2State,
  type: LoadBalancerType,
  subnetIds: string[],
): { vpcId?: string; subnets: LoadBalancerRecord['subnets'] } {
  const minimum = type === 'application' ? 2 : 1;
  if (subnetIds.length < minimum) {
    throw validationError(
      type === 'application'
        ? 'At least two subnets in two different Availability Zones must be specified'
        : 'At least one subnet must be specified',
    );
  }
  const lookup = state.deps.subnet;
  if (!lookup) return { subnets: subnetIds.map((subnetId) => ({ subnetId })) };
  const subnets = subnetIds.map((subnetId) => {
    const info = lookup(subnetId);
    if (!info) throw new AwsError('SubnetNotFound', `The subnet ID '${subnetId}' is not valid`);
    return { subnetId, ...info };
  });
  const vpcs = new Set(subnets.map((s) => s.vpcId));
  if (vpcs.size > 1) {
    throw new AwsError(
      'InvalidConfigurationRequest',
      'All subnets of a load balancer must be in the same VPC',
    );
  }
  const zones = new Set(subnets.map((s) => s.availabilityZone));
  if (zones.size < subnets.length) {
    throw new AwsError(
      'InvalidConfigurationRequest',
      'A load balancer cannot be attached to multiple subnets in the same Availability Zone',
    );
  }
  return {
    vpcId: subnets[0]!.vpcId,
    subnets: subnets.map((s) => ({ subnetId: s.subnetId, availabilityZone: s.availabilityZone })),
  };
}

/** A group starts to receive traffic: its targets' registration and health checks begin now. */
function attach(state: Elbv2State, group: TargetGroupRecord, lb: LoadBalancerRecord, now: number): void {
  if (group.loadBalancerArns.includes(lb.arn)) return;
  group.loadBalancerArns.push(lb.arn);
  if (group.inUseSince !== undefined) return;
  group.inUseSince = Math.max(now, lb.activeAt);
  for (const registration of group.targets.values()) {
    registration.track = freshTrack(state, group, registration, now);
  }
}
