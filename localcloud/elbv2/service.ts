/**
 * The ELBv2 service of the local cloud: load balancers, listeners, target groups and target
 * health over virtual time, spoken over the AWS Query protocol so the unmodified SDK client can
 * talk to it. Where AWS documents a behaviour, this does the same.
 *
 * @example
 * const elbv2 = createElbv2Service({ clock, instances: ec2.directory, region: 'us-east-1', accountId });
 * server.route('2015-12-01', elbv2);
 * elbv2.inspect.targetGroupOf('web')?.targets; // [{ id: 'i-…', port: 80, state: 'healthy' }]
 */
import { randomInt } from 'node:crypto';
import type { InstanceDirectory, QueryRequest, QueryService, VirtualClock } from '../contracts.ts';
import { AwsError } from '../contracts.ts';
import {
  checkedState,
  DEREGISTRATION_IN_PROGRESS,
  invalidState,
  NOT_IN_USE,
  NOT_REGISTERED,
  reportChecked,
  type TargetHealth,
  type TargetHealthState,
} from './health.ts';
import {
  arnSuffix,
  canonicalHostedZoneId,
  defaultAttributes,
  deregistrationDelaySeconds,
  HEALTH_CHECK_PROTOCOLS,
  type HealthCheckConfig,
  healthCheckWithDefaults,
  type ListenerRecord,
  LOAD_BALANCER_TYPES,
  type LoadBalancerRecord,
  type LoadBalancerType,
  type Registration,
  registrationKey,
  sameSettings,
  servesProtocol,
  TARGET_GROUP_PROTOCOLS,
  TARGET_TYPES,
  type TargetGroupRecord,
  type TargetGroupSettings,
  type TargetType,
  validateAttribute,
  validateResourceName,
} from './model.ts';
import {
  leaf,
  memberList,
  memberStructs,
  members,
  oneOf,
  optionalBool,
  optionalInt,
  type Params,
  renderErrorResponse,
  renderResponse,
  required,
  validationError,
} from './query.ts';
import {
  renderAttributes,
  renderListener,
  renderLoadBalancer,
  renderTargetGroup,
  renderTargetHealth,
} from './render.ts';

export type { TargetHealthState } from './health.ts';

/** Where a subnet is, as EC2 knows it. */
export interface SubnetInfo {
  vpcId: string;
  availabilityZone: string;
}

export interface Elbv2Timing {
  /** Virtual seconds a new load balancer stays `provisioning` before it is `active`. Default 60. */
  loadBalancerProvisioningSeconds: number;
}

export const DEFAULT_ELBV2_TIMING: Elbv2Timing = { loadBalancerProvisioningSeconds: 60 };

export interface Elbv2Deps {
  clock: VirtualClock;
  instances: InstanceDirectory;
  region: string;
  accountId: string;
  /**
   * Optional: EC2's subnets. With it, `CreateLoadBalancer` rejects unknown subnets and reports the
   * load balancer's VPC and Availability Zones; without it, those fields are left out.
   */
  subnet?: (subnetId: string) => SubnetInfo | undefined;
  /**
   * Optional: the instances holding `ip` on a network interface. Without it, the owners of an `ip`
   * target are looked for among the instances this service has heard of (state changes, `instance`
   * registrations).
   */
  instancesWithIp?: (ip: string) => string[];
  timing?: Partial<Elbv2Timing>;
}

/** One registration as the load balancer reports it now. */
export interface TargetView {
  id: string;
  port: number;
  availabilityZone?: string;
  state: TargetHealthState;
  /** Reason code, e.g. `Elb.RegistrationInProgress`; absent when `healthy`. */
  reason?: string;
  description?: string;
  /** When a `draining` target disappears. */
  drainingUntil?: Date;
}

export interface TargetGroupView {
  arn: string;
  name: string;
  protocol: string;
  port: number;
  vpcId: string;
  targetType: TargetType;
  loadBalancerArns: string[];
  deregistrationDelaySeconds: number;
  healthCheck: { intervalSeconds: number; healthyThreshold: number; unhealthyThreshold: number };
  targets: TargetView[];
}

export interface LoadBalancerView {
  arn: string;
  name: string;
  type: LoadBalancerType;
  state: 'provisioning' | 'active';
  vpcId?: string;
  subnetIds: string[];
  listeners: Array<{ arn: string; port: number; protocol: string; targetGroupArns: string[] }>;
}

/** Read-only views for tests and the demo. Each call reports the state at the clock's current time. */
export interface Elbv2Inspect {
  targetGroups(): TargetGroupView[];
  /** By ARN or by name. */
  targetGroupOf(arnOrName: string): TargetGroupView | undefined;
  loadBalancers(): LoadBalancerView[];
}

export type Elbv2Service = QueryService & { inspect: Elbv2Inspect };

const MAX_PAGE_SIZE = 400;
/** Instance states in which ELB deregisters an instance's targets by itself. */
const TERMINATING = new Set(['shutting-down', 'terminated']);

interface RequestedTarget {
  id: string;
  port: number;
  /** True when the request gave the port; false when it defaulted to the group's. */
  portGiven: boolean;
  availabilityZone?: string;
}

/** An instance state change being delivered: EC2 may not have stored it yet. */
interface StateOverride {
  instanceId: string;
  state: string;
}

export function createElbv2Service(deps: Elbv2Deps): Elbv2Service {
  const elbv2 = new Elbv2(deps);
  return {
    apiVersion: '2015-12-01',
    handle: (request) => elbv2.handle(request),
    renderError: (error, requestId) => renderErrorResponse(error, requestId),
    inspect: {
      targetGroups: () => elbv2.viewTargetGroups(),
      targetGroupOf: (arnOrName) => elbv2.viewTargetGroup(arnOrName),
      loadBalancers: () => elbv2.viewLoadBalancers(),
    },
  };
}

class Elbv2 {
  private readonly targetGroups = new Map<string, TargetGroupRecord>();
  private readonly loadBalancers = new Map<string, LoadBalancerRecord>();
  private readonly listeners = new Map<string, ListenerRecord>();
  /** Instances heard of, searched for the owners of `ip` targets. */
  private readonly knownInstances = new Set<string>();
  private readonly timing: Elbv2Timing;
  private readonly actions: Record<string, (params: Params) => string>;

  constructor(private readonly deps: Elbv2Deps) {
    this.timing = { ...DEFAULT_ELBV2_TIMING, ...deps.timing };
    this.actions = {
      CreateLoadBalancer: (p) => this.createLoadBalancer(p),
      DescribeLoadBalancers: (p) => this.describeLoadBalancers(p),
      CreateListener: (p) => this.createListener(p),
      CreateTargetGroup: (p) => this.createTargetGroup(p),
      DescribeTargetGroups: (p) => this.describeTargetGroups(p),
      DeleteTargetGroup: (p) => this.deleteTargetGroup(p),
      DescribeTargetGroupAttributes: (p) => this.describeTargetGroupAttributes(p),
      ModifyTargetGroupAttributes: (p) => this.modifyTargetGroupAttributes(p),
      RegisterTargets: (p) => this.registerTargets(p),
      DeregisterTargets: (p) => this.deregisterTargets(p),
      DescribeTargetHealth: (p) => this.describeTargetHealth(p),
    };
    deps.instances.onStateChange((instanceId, state) => this.instanceChanged(instanceId, state));
  }

  handle(request: QueryRequest): string {
    const action = this.actions[request.action];
    if (!action) {
      throw new AwsError(
        'InvalidAction',
        `Could not find operation ${request.action} for version 2015-12-01`,
      );
    }
    return renderResponse(request.action, action(request.params), request.requestId);
  }

  private now(): number {
    return this.deps.clock.now().getTime();
  }

  // ---- Load balancers and listeners ----------------------------------------------------------

  private createLoadBalancer(params: Params): string {
    const name = required(params, 'Name');
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
      ...memberList(params, 'Subnets'),
      ...memberStructs(params, 'SubnetMappings').flatMap((mapping) =>
        mapping.SubnetId ? [mapping.SubnetId] : [],
      ),
    ];
    const subnets = this.resolveSubnets(type, subnetIds);
    const securityGroups = type === 'application' ? memberList(params, 'SecurityGroups') : [];

    const existing = [...this.loadBalancers.values()].find((lb) => lb.name === name);
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
      return members('LoadBalancers', [renderLoadBalancer(existing, this.loadBalancerState(existing))]);
    }

    const now = this.now();
    const kind = type === 'application' ? 'app' : 'net';
    const hex = arnSuffix();
    const lb: LoadBalancerRecord = {
      arn: `arn:aws:elasticloadbalancing:${this.deps.region}:${this.deps.accountId}:loadbalancer/${kind}/${name}/${hex}`,
      name,
      type,
      scheme,
      dnsName:
        type === 'application'
          ? `${scheme === 'internal' ? 'internal-' : ''}${name}-${randomInt(100_000_000, 2_147_483_647)}.${this.deps.region}.elb.amazonaws.com`
          : `${name}-${arnSuffix()}.elb.${this.deps.region}.amazonaws.com`,
      canonicalHostedZoneId: canonicalHostedZoneId(this.deps.region, type),
      createdAt: now,
      activeAt: now + this.timing.loadBalancerProvisioningSeconds * 1000,
      vpcId: subnets.vpcId,
      subnets: subnets.subnets,
      securityGroups,
      ipAddressType,
    };
    this.loadBalancers.set(lb.arn, lb);
    return members('LoadBalancers', [renderLoadBalancer(lb, this.loadBalancerState(lb))]);
  }

  private resolveSubnets(
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
    const lookup = this.deps.subnet;
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

  private loadBalancerState(lb: LoadBalancerRecord): 'provisioning' | 'active' {
    return this.now() < lb.activeAt ? 'provisioning' : 'active';
  }

  private describeLoadBalancers(params: Params): string {
    const arns = memberList(params, 'LoadBalancerArns');
    const names = memberList(params, 'Names');
    let found = [...this.loadBalancers.values()].sort((a, b) => byKey(a.name, b.name));
    if (arns.length > 0) {
      if (arns.some((arn) => !this.loadBalancers.has(arn))) {
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
    const page = paginate(found, (lb) => lb.name, params);
    return (
      members(
        'LoadBalancers',
        page.items.map((lb) => renderLoadBalancer(lb, this.loadBalancerState(lb))),
      ) + leaf('NextMarker', page.next)
    );
  }

  private loadBalancer(arn: string): LoadBalancerRecord {
    const lb = this.loadBalancers.get(arn);
    if (!lb) throw new AwsError('LoadBalancerNotFound', `Load balancer '${arn}' not found`);
    return lb;
  }

  private createListener(params: Params): string {
    const lb = this.loadBalancer(required(params, 'LoadBalancerArn'));
    const port = optionalInt(params, 'Port', 1, 65535);
    if (port === undefined) throw validationError('A listener port must be specified');
    const allowed =
      lb.type === 'application' ? (['HTTP', 'HTTPS'] as const) : (['TCP', 'TLS', 'UDP', 'TCP_UDP'] as const);
    const protocol = params.Protocol || allowed[0];
    if (!(allowed as readonly string[]).includes(protocol)) {
      throw validationError(`Listener protocol '${protocol}' must be one of '${allowed.join(', ')}'`);
    }
    const certificates = memberStructs(params, 'Certificates').flatMap((c) =>
      c.CertificateArn ? [c.CertificateArn] : [],
    );
    if ((protocol === 'HTTPS' || protocol === 'TLS') && certificates.length === 0) {
      throw new AwsError('CertificateNotFound', `A certificate must be specified for ${protocol} listeners`);
    }
    if ([...this.listeners.values()].some((l) => l.loadBalancerArn === lb.arn && l.port === port)) {
      throw new AwsError(
        'DuplicateListener',
        `A listener already exists on this port for this load balancer '${lb.arn}'`,
      );
    }

    const actions = memberStructs(params, 'DefaultActions');
    if (actions.length === 0) throw validationError('A default action must be specified');
    const forwardTo: ListenerRecord['forwardTo'] = [];
    for (const action of actions) {
      if (action.Type !== 'forward') {
        throw validationError(
          `Action type '${action.Type ?? ''}' is not supported by the local cloud: use 'forward'`,
        );
      }
      const weighted = memberStructs(action, 'ForwardConfig.TargetGroups').map((tg) => ({
        targetGroupArn: tg.TargetGroupArn ?? '',
        weight: tg.Weight === undefined ? 1 : Number(tg.Weight),
      }));
      const targets =
        weighted.length > 0 ? weighted : [{ targetGroupArn: action.TargetGroupArn ?? '', weight: 1 }];
      for (const target of targets) {
        if (target.targetGroupArn === '') throw validationError('A target group ARN must be specified');
        forwardTo.push(target);
      }
    }
    const groups = forwardTo.map(({ targetGroupArn }) => this.targetGroup(targetGroupArn));
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
          ? params.SslPolicy || 'ELBSecurityPolicy-TLS13-1-2-2021-06'
          : undefined,
    };
    this.listeners.set(listener.arn, listener);
    const now = this.now();
    for (const group of groups) this.attach(group, lb, now);
    return members('Listeners', [renderListener(listener)]);
  }

  /** A group starts to receive traffic: its targets' registration and health checks begin now. */
  private attach(group: TargetGroupRecord, lb: LoadBalancerRecord, now: number): void {
    if (group.loadBalancerArns.includes(lb.arn)) return;
    group.loadBalancerArns.push(lb.arn);
    if (group.inUseSince !== undefined) return;
    group.inUseSince = Math.max(now, lb.activeAt);
    for (const registration of group.targets.values()) {
      registration.track = { settled: 'initial', since: now, passing: this.passing(group, registration) };
    }
  }

  // ---- Target groups ---------------------------------------------------------------------------

  private createTargetGroup(params: Params): string {
    const name = required(params, 'Name');
    validateResourceName('target group', name);
    const targetType = oneOf(params, 'TargetType', TARGET_TYPES, 'instance')!;
    if (targetType !== 'instance' && targetType !== 'ip') {
      throw validationError(
        `Target type '${targetType}' is not supported by the local cloud: use 'instance' or 'ip'`,
      );
    }
    const protocol = oneOf(params, 'Protocol', TARGET_GROUP_PROTOCOLS);
    if (protocol === undefined) throw validationError('A protocol must be specified');
    const port = optionalInt(params, 'Port', 1, 65535);
    if (port === undefined) throw validationError('A port must be specified');
    const vpcId = params.VpcId;
    if (!vpcId) throw validationError('A VPC ID must be specified');
    const http = protocol === 'HTTP' || protocol === 'HTTPS';
    if (!http && params.ProtocolVersion) {
      throw validationError('A protocol version can only be specified for HTTP and HTTPS target groups');
    }
    const protocolVersion = http
      ? oneOf(params, 'ProtocolVersion', ['HTTP1', 'HTTP2', 'GRPC'] as const, 'HTTP1')
      : undefined;
    oneOf(params, 'IpAddressType', ['ipv4'] as const, 'ipv4');
    const healthCheck = healthCheckWithDefaults(
      protocol,
      {
        enabled: optionalBool(params, 'HealthCheckEnabled'),
        protocol: oneOf(params, 'HealthCheckProtocol', HEALTH_CHECK_PROTOCOLS),
        port: params.HealthCheckPort || undefined,
        path: params.HealthCheckPath || undefined,
        intervalSeconds: optionalInt(params, 'HealthCheckIntervalSeconds', 5, 300),
        timeoutSeconds: optionalInt(params, 'HealthCheckTimeoutSeconds', 2, 120),
        healthyThreshold: optionalInt(params, 'HealthyThresholdCount', 2, 10),
        unhealthyThreshold: optionalInt(params, 'UnhealthyThresholdCount', 2, 10),
        httpCode: params['Matcher.HttpCode'] || undefined,
        grpcCode: params['Matcher.GrpcCode'] || undefined,
      },
      protocolVersion,
    );
    const settings: TargetGroupSettings = { protocol, protocolVersion, port, vpcId, targetType, healthCheck };

    const existing = [...this.targetGroups.values()].find((group) => group.name === name);
    if (existing) {
      if (!sameSettings(existing, settings)) {
        throw new AwsError(
          'DuplicateTargetGroupName',
          `A target group with the same name '${name}' exists, but with different settings`,
        );
      }
      return members('TargetGroups', [renderTargetGroup(existing)]);
    }
    const group: TargetGroupRecord = {
      ...settings,
      arn: `arn:aws:elasticloadbalancing:${this.deps.region}:${this.deps.accountId}:targetgroup/${name}/${arnSuffix()}`,
      name,
      ipAddressType: 'ipv4',
      attributes: defaultAttributes(protocol, targetType),
      loadBalancerArns: [],
      targets: new Map(),
    };
    this.targetGroups.set(group.arn, group);
    return members('TargetGroups', [renderTargetGroup(group)]);
  }

  private describeTargetGroups(params: Params): string {
    const arns = memberList(params, 'TargetGroupArns');
    const names = memberList(params, 'Names');
    const loadBalancerArn = params.LoadBalancerArn || undefined;
    let found = [...this.targetGroups.values()].sort((a, b) => byKey(a.name, b.name));
    if (arns.length > 0) {
      for (const arn of arns) {
        if (!arn.startsWith('arn:')) throw validationError(`'${arn}' is not a valid target group ARN`);
      }
      const missing = arns.filter((arn) => !this.targetGroups.has(arn));
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
      this.loadBalancer(loadBalancerArn);
      found = found.filter((group) => group.loadBalancerArns.includes(loadBalancerArn));
    }
    const page = paginate(found, (group) => group.name, params);
    return (
      members(
        'TargetGroups',
        page.items.map((group) => renderTargetGroup(group)),
      ) + leaf('NextMarker', page.next)
    );
  }

  private targetGroup(arn: string): TargetGroupRecord {
    if (!arn.startsWith('arn:')) throw validationError(`'${arn}' is not a valid target group ARN`);
    const group = this.targetGroups.get(arn);
    if (!group) throw new AwsError('TargetGroupNotFound', `Target groups '${arn}' not found`);
    return group;
  }

  /** Idempotent, as AWS documents no not-found error for it. */
  private deleteTargetGroup(params: Params): string {
    const arn = required(params, 'TargetGroupArn');
    const group = this.targetGroups.get(arn);
    if (!group) return '';
    if (group.loadBalancerArns.length > 0) {
      throw new AwsError(
        'ResourceInUse',
        `Target group '${arn}' is currently in use by a listener or a rule`,
      );
    }
    for (const registration of group.targets.values()) registration.drain?.cancel();
    this.targetGroups.delete(arn);
    return '';
  }

  private describeTargetGroupAttributes(params: Params): string {
    return renderAttributes(this.targetGroup(required(params, 'TargetGroupArn')));
  }

  /** All or nothing: one invalid attribute rejects the whole call. */
  private modifyTargetGroupAttributes(params: Params): string {
    const group = this.targetGroup(required(params, 'TargetGroupArn'));
    const changes = memberStructs(params, 'Attributes');
    if (changes.length === 0) throw validationError('At least one attribute must be specified');
    for (const { Key: key = '', Value: value = '' } of changes)
      validateAttribute(group.attributes, key, value);
    for (const { Key: key = '', Value: value = '' } of changes) group.attributes.set(key, value);
    return renderAttributes(group);
  }

  // ---- Targets ---------------------------------------------------------------------------------

  private requestedTargets(params: Params, group: TargetGroupRecord, atLeastOne: boolean): RequestedTarget[] {
    const targets = memberStructs(params, 'Targets').map((struct) => {
      if (!struct.Id) throw validationError('A target ID must be specified');
      const port = optionalInt(struct, 'Port', 1, 65535);
      return {
        id: struct.Id,
        port: port ?? group.port,
        portGiven: port !== undefined,
        availabilityZone: struct.AvailabilityZone || undefined,
      };
    });
    if (atLeastOne && targets.length === 0) {
      throw validationError(
        "1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null",
      );
    }
    return targets;
  }

  /** All or nothing: AWS rejects the whole call when one target is invalid. */
  private registerTargets(params: Params): string {
    const group = this.targetGroup(required(params, 'TargetGroupArn'));
    const targets = this.requestedTargets(params, group, true);
    const now = this.now();
    this.purge(group, now);
    const zones =
      group.targetType === 'instance'
        ? this.checkInstanceTargets(group, targets)
        : this.checkIpTargets(group, targets);
    targets.forEach((target, index) => {
      const key = registrationKey(target.id, target.port);
      const existing = group.targets.get(key);
      if (existing && !existing.drain) return;
      existing?.drain?.cancel();
      group.targets.delete(key);
      const registration: Registration = {
        id: target.id,
        port: target.port,
        availabilityZone: zones[index],
        track: { settled: 'initial', since: now, passing: false },
      };
      registration.track.passing = this.passing(group, registration);
      group.targets.set(key, registration);
    });
    return '';
  }

  private checkInstanceTargets(
    group: TargetGroupRecord,
    targets: RequestedTarget[],
  ): Array<string | undefined> {
    const unknown: string[] = [];
    const otherVpc: string[] = [];
    const notRunning: string[] = [];
    for (const target of targets) {
      if (!/^i-[0-9a-f]{8,17}$/.test(target.id)) {
        throw validationError(`Instance ID '${target.id}' is not valid`);
      }
      if (target.availabilityZone !== undefined) {
        throw validationError('An Availability Zone cannot be specified for instance targets');
      }
      this.knownInstances.add(target.id);
      const instance = this.deps.instances.instance(target.id);
      if (!instance) unknown.push(target.id);
      else if (instance.vpcId !== group.vpcId) otherVpc.push(target.id);
      else if (instance.state !== 'running') notRunning.push(target.id);
    }
    const quoted = (ids: string[]) => ids.map((id) => `'${id}'`).join(', ');
    if (unknown.length > 0) {
      throw new AwsError(
        'InvalidTarget',
        `The following targets are not valid instances: ${quoted(unknown)}`,
      );
    }
    if (otherVpc.length > 0) {
      throw new AwsError(
        'InvalidTarget',
        `The following targets are not in the target group VPC '${group.vpcId}': ${quoted(otherVpc)}`,
      );
    }
    if (notRunning.length > 0) {
      throw new AwsError(
        'InvalidTarget',
        `The following targets are not in a running state and cannot be registered: ${quoted(notRunning)}`,
      );
    }
    return targets.map(() => undefined);
  }

  /** Returns the Availability Zone to report for each target. */
  private checkIpTargets(group: TargetGroupRecord, targets: RequestedTarget[]): Array<string | undefined> {
    const zones: Array<string | undefined> = [];
    const stillDraining: string[] = [];
    for (const target of targets) {
      const ip = target.id;
      if (!isIpv4(ip)) throw validationError(`The IP address '${ip}' is not a valid IPv4 address`);
      const inVpc = this.deps.instances.vpcOfIp(ip) === group.vpcId;
      const ownerZone = this.ownersOf(ip)
        .map((id) => this.deps.instances.instance(id)?.availabilityZone)
        .find((zone) => zone !== undefined);
      if (target.availabilityZone === 'all') {
        if (inVpc) {
          throw validationError(
            `The IP address '${ip}' is within the VPC, and cannot have its Availability Zone overridden to 'all'` +
              (ownerZone ? ` from '${ownerZone}'` : ''),
          );
        }
        if (!isPrivateIpv4(ip)) {
          throw validationError(
            `The IP address '${ip}' is outside the VPC and is not in a private range (RFC 1918 or RFC 6598)`,
          );
        }
      } else if (!inVpc) {
        throw validationError(
          target.availabilityZone === undefined
            ? `The Availability Zone is required for IP address '${ip}' because it is not in the VPC`
            : `You must specify a valid Availability Zone or select 'all' for all enabled Availability zones, since the IP address '${ip}' is outside the VPC`,
        );
      }
      if (group.targets.get(registrationKey(ip, target.port))?.drain)
        stillDraining.push(`${ip}:${target.port}`);
      zones.push(target.availabilityZone ?? ownerZone);
    }
    // AWS: after deregistering an IP target, wait for the deregistration delay before registering it again.
    if (stillDraining.length > 0) {
      throw new AwsError(
        'InvalidTarget',
        `The following targets are still draining and cannot be registered again before the deregistration delay ends: ${stillDraining
          .map((t) => `'${t}'`)
          .join(', ')}`,
      );
    }
    return zones;
  }

  /** Idempotent: a target that is not registered, or already draining, is left as it is. */
  private deregisterTargets(params: Params): string {
    const group = this.targetGroup(required(params, 'TargetGroupArn'));
    const targets = this.requestedTargets(params, group, true);
    if (group.targetType === 'instance') {
      const malformed = targets.find((t) => !/^i-[0-9a-f]{8,17}$/.test(t.id));
      if (malformed) throw validationError(`Instance ID '${malformed.id}' is not valid`);
    } else {
      const malformed = targets.find((t) => !isIpv4(t.id));
      if (malformed) throw validationError(`The IP address '${malformed.id}' is not a valid IPv4 address`);
    }
    const now = this.now();
    this.purge(group, now);
    for (const target of targets) {
      const registration = group.targets.get(registrationKey(target.id, target.port));
      if (registration && !registration.drain) this.startDraining(group, registration, now);
    }
    return '';
  }

  private startDraining(group: TargetGroupRecord, registration: Registration, now: number): void {
    const key = registrationKey(registration.id, registration.port);
    const delayMs = deregistrationDelaySeconds(group) * 1000;
    if (delayMs === 0) {
      group.targets.delete(key);
      return;
    }
    const until = now + delayMs;
    const cancel = this.deps.clock.schedule(delayMs, () => {
      if (group.targets.get(key) === registration && registration.drain?.until === until)
        group.targets.delete(key);
    });
    registration.drain = { until, cancel };
  }

  /** Drops registrations whose draining has ended (timers normally do it; this covers late timers). */
  private purge(group: TargetGroupRecord, now: number): void {
    for (const [key, registration] of group.targets) {
      if (registration.drain && registration.drain.until <= now) {
        registration.drain.cancel();
        group.targets.delete(key);
      }
    }
  }

  private describeTargetHealth(params: Params): string {
    const group = this.targetGroup(required(params, 'TargetGroupArn'));
    const now = this.now();
    this.purge(group, now);
    const filter = this.requestedTargets(params, group, false);
    const rendered: string[] = [];
    if (filter.length === 0) {
      for (const registration of group.targets.values()) {
        rendered.push(renderTargetHealth(group, registration, this.health(group, registration, now)));
      }
    } else {
      for (const target of filter) {
        const matches = target.portGiven
          ? [group.targets.get(registrationKey(target.id, target.port))].filter((r) => r !== undefined)
          : [...group.targets.values()].filter((r) => r.id === target.id);
        if (matches.length === 0) {
          rendered.push(
            renderTargetHealth(
              group,
              { id: target.id, port: target.port, availabilityZone: target.availabilityZone },
              NOT_REGISTERED,
            ),
          );
        }
        for (const registration of matches) {
          rendered.push(renderTargetHealth(group, registration, this.health(group, registration, now)));
        }
      }
    }
    return members('TargetHealthDescriptions', rendered);
  }

  // ---- Health over virtual time ------------------------------------------------------------------

  private health(group: TargetGroupRecord, registration: Registration, now: number): TargetHealth {
    if (registration.drain) return DEREGISTRATION_IN_PROGRESS;
    if (group.inUseSince === undefined) return NOT_IN_USE;
    this.settle(group, registration, now);
    if (group.targetType === 'instance') {
      const state = this.deps.instances.instance(registration.id)?.state ?? 'terminated';
      if (state !== 'running') return invalidState(state);
    }
    const checksFrom = Math.max(registration.track.since, group.inUseSince);
    return reportChecked(registration.track, now - checksFrom, group.healthCheck);
  }

  /**
   * Whether the target would pass health checks now: its instance, or for an `ip` target an
   * instance holding that IP, is running.
   */
  private passing(group: TargetGroupRecord, registration: Registration, override?: StateOverride): boolean {
    const stateOf = (instanceId: string) =>
      override?.instanceId === instanceId ? override.state : this.deps.instances.instance(instanceId)?.state;
    if (group.targetType === 'instance') return stateOf(registration.id) === 'running';
    return this.ownersOf(registration.id).some((id) => stateOf(id) === 'running');
  }

  /** When the checks' outcome has flipped, the load balancer's conclusion so far becomes the new start. */
  private settle(
    group: TargetGroupRecord,
    registration: Registration,
    now: number,
    override?: StateOverride,
  ): void {
    const passing = this.passing(group, registration, override);
    const track = registration.track;
    if (passing === track.passing) return;
    // An instance target that stops, or starts again, is checked from scratch.
    const settled =
      group.targetType === 'instance'
        ? 'initial'
        : checkedState(
            track,
            now - Math.max(track.since, group.inUseSince ?? track.since),
            group.healthCheck,
          );
    registration.track = { settled, since: now, passing };
  }

  private ownersOf(ip: string): string[] {
    if (this.deps.instancesWithIp) return this.deps.instancesWithIp(ip);
    return [...this.knownInstances].filter((id) => this.deps.instances.instance(id)?.privateIps.includes(ip));
  }

  /** EC2 reports a state change: a terminating instance's targets drain; others are re-checked. */
  private instanceChanged(instanceId: string, state: string): void {
    this.knownInstances.add(instanceId);
    const now = this.now();
    const override = { instanceId, state };
    for (const group of this.targetGroups.values()) {
      this.purge(group, now);
      for (const registration of group.targets.values()) {
        if (registration.drain) continue;
        if (group.targetType === 'instance' && registration.id === instanceId && TERMINATING.has(state)) {
          this.startDraining(group, registration, now);
          continue;
        }
        this.settle(group, registration, now, override);
      }
    }
  }

  // ---- Views -------------------------------------------------------------------------------------

  viewTargetGroups(): TargetGroupView[] {
    return [...this.targetGroups.values()].map((group) => this.viewOf(group));
  }

  viewTargetGroup(arnOrName: string): TargetGroupView | undefined {
    const group =
      this.targetGroups.get(arnOrName) ?? [...this.targetGroups.values()].find((g) => g.name === arnOrName);
    return group && this.viewOf(group);
  }

  private viewOf(group: TargetGroupRecord): TargetGroupView {
    const now = this.now();
    this.purge(group, now);
    const hc: HealthCheckConfig = group.healthCheck;
    return {
      arn: group.arn,
      name: group.name,
      protocol: group.protocol,
      port: group.port,
      vpcId: group.vpcId,
      targetType: group.targetType,
      loadBalancerArns: [...group.loadBalancerArns],
      deregistrationDelaySeconds: deregistrationDelaySeconds(group),
      healthCheck: {
        intervalSeconds: hc.intervalSeconds,
        healthyThreshold: hc.healthyThreshold,
        unhealthyThreshold: hc.unhealthyThreshold,
      },
      targets: [...group.targets.values()].map((registration) => {
        const health = this.health(group, registration, now);
        const view: TargetView = { id: registration.id, port: registration.port, state: health.state };
        if (registration.availabilityZone !== undefined)
          view.availabilityZone = registration.availabilityZone;
        if (health.reason !== undefined) view.reason = health.reason;
        if (health.description !== undefined) view.description = health.description;
        if (registration.drain) view.drainingUntil = new Date(registration.drain.until);
        return view;
      }),
    };
  }

  viewLoadBalancers(): LoadBalancerView[] {
    return [...this.loadBalancers.values()].map((lb) => {
      const view: LoadBalancerView = {
        arn: lb.arn,
        name: lb.name,
        type: lb.type,
        state: this.loadBalancerState(lb),
        subnetIds: lb.subnets.map((s) => s.subnetId),
        listeners: [...this.listeners.values()]
          .filter((l) => l.loadBalancerArn === lb.arn)
          .map((l) => ({
            arn: l.arn,
            port: l.port,
            protocol: l.protocol,
            targetGroupArns: l.forwardTo.map((f) => f.targetGroupArn),
          })),
      };
      if (lb.vpcId !== undefined) view.vpcId = lb.vpcId;
      return view;
    });
  }
}

/**
 * `Marker`/`PageSize` pagination over items sorted by a unique key. The marker is the key of the
 * next item, so deleting items between pages neither skips nor repeats others.
 */
function paginate<T>(items: T[], keyOf: (item: T) => string, params: Params): { items: T[]; next?: string } {
  const pageSize = optionalInt(params, 'PageSize', 1, MAX_PAGE_SIZE) ?? MAX_PAGE_SIZE;
  let start = 0;
  if (params.Marker) {
    const from = Buffer.from(params.Marker, 'base64url').toString('utf8');
    if (!from.startsWith('v1:')) throw validationError(`Invalid marker '${params.Marker}'`);
    const key = from.slice(3);
    start = items.findIndex((item) => keyOf(item) >= key);
    if (start < 0) start = items.length;
  }
  const page = items.slice(start, start + pageSize);
  const following = items[start + pageSize];
  return following === undefined
    ? { items: page }
    : { items: page, next: Buffer.from(`v1:${keyOf(following)}`, 'utf8').toString('base64url') };
}

/** Code-unit order, the same order `paginate` compares markers in. */
function byKey(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isIpv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((part) => /^(0|[1-9]\d{0,2})$/.test(part) && Number(part) <= 255);
}

/** RFC 1918 and RFC 6598 ranges: the only addresses AWS accepts as `ip` targets outside the VPC. */
function isPrivateIpv4(ip: string): boolean {
  const [a = 0, b = 0] = ip.split('.').map(Number);
  return (
    a === 10 ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 100 && b >= 64 && b <= 127)
  );
}
