/**
 * What the ELBv2 service keeps: load balancers, listeners, target groups and their registrations,
 * with the defaults AWS applies (API reference, `CreateTargetGroup` and target group attributes).
 */
import { randomBytes } from 'node:crypto';
import type { HealthCheckTiming, HealthTrack } from './health.ts';
import { validationError } from './query.ts';

export const TARGET_GROUP_PROTOCOLS = ['HTTP', 'HTTPS', 'TCP', 'TLS', 'UDP', 'TCP_UDP', 'GENEVE'] as const;
export type TargetGroupProtocol = (typeof TARGET_GROUP_PROTOCOLS)[number];

export const HEALTH_CHECK_PROTOCOLS = ['HTTP', 'HTTPS', 'TCP'] as const;
export type HealthCheckProtocol = (typeof HEALTH_CHECK_PROTOCOLS)[number];

export const TARGET_TYPES = ['instance', 'ip', 'lambda', 'alb'] as const;
/** The target types this local cloud serves. */
export type TargetType = 'instance' | 'ip';

export const LOAD_BALANCER_TYPES = ['application', 'network', 'gateway'] as const;
export type LoadBalancerType = 'application' | 'network';

export interface HealthCheckConfig extends HealthCheckTiming {
  enabled: boolean;
  protocol: HealthCheckProtocol;
  /** `traffic-port` or a port number. */
  port: string;
  timeoutSeconds: number;
  /** HTTP and HTTPS health checks only. */
  path?: string;
  /** HTTP and HTTPS health checks only. */
  matcher?: { httpCode?: string; grpcCode?: string };
}

/** One registration of a target: AWS keys them by id and port. */
export interface Registration {
  id: string;
  port: number;
  availabilityZone?: string;
  track: HealthTrack;
  /** Set while deregistration is in progress. */
  drain?: { until: number; cancel: () => void };
}

export interface TargetGroupRecord {
  arn: string;
  name: string;
  protocol: TargetGroupProtocol;
  protocolVersion?: string;
  port: number;
  vpcId: string;
  targetType: TargetType;
  ipAddressType: 'ipv4';
  healthCheck: HealthCheckConfig;
  attributes: Map<string, string>;
  loadBalancerArns: string[];
  /** Virtual ms from which a load balancer routes to this group; undefined while unused. */
  inUseSince?: number;
  /** Keyed by `id:port`, in registration order. */
  targets: Map<string, Registration>;
}

export interface LoadBalancerRecord {
  arn: string;
  name: string;
  type: LoadBalancerType;
  scheme: 'internet-facing' | 'internal';
  dnsName: string;
  canonicalHostedZoneId?: string;
  createdAt: number;
  /** Virtual ms at which provisioning ends and the state becomes `active`. */
  activeAt: number;
  vpcId?: string;
  subnets: Array<{ subnetId: string; availabilityZone?: string }>;
  securityGroups: string[];
  ipAddressType: string;
}

export interface ListenerRecord {
  arn: string;
  loadBalancerArn: string;
  port: number;
  protocol: string;
  /** `forward` actions: target groups and weights. */
  forwardTo: Array<{ targetGroupArn: string; weight: number }>;
  certificates: string[];
  sslPolicy?: string;
}

export function registrationKey(id: string, port: number): string {
  return `${id}:${port}`;
}

/** The 16 hex digits that end ELBv2 ARNs. */
export function arnSuffix(): string {
  return randomBytes(8).toString('hex');
}

/** Names of load balancers and target groups: 1–32 alphanumerics or hyphens, no hyphen at either end. */
export function validateResourceName(kind: 'load balancer' | 'target group', name: string): void {
  if (!/^[A-Za-z0-9](?:[A-Za-z0-9-]{0,30}[A-Za-z0-9])?$/.test(name)) {
    throw validationError(
      `The ${kind} name '${name}' must be at most 32 characters long, contain only alphanumeric characters or hyphens, and must not begin or end with a hyphen`,
    );
  }
}

function isHttp(protocol: string): boolean {
  return protocol === 'HTTP' || protocol === 'HTTPS';
}

/** Protocols of target groups that a load balancer of `type` forwards to. */
export function servesProtocol(type: LoadBalancerType, protocol: TargetGroupProtocol): boolean {
  return type === 'application' ? isHttp(protocol) : ['TCP', 'TLS', 'UDP', 'TCP_UDP'].includes(protocol);
}

/** Health check settings as requested, completed with AWS's defaults for the protocol. */
export function healthCheckWithDefaults(
  protocol: TargetGroupProtocol,
  requested: {
    enabled?: boolean;
    protocol?: HealthCheckProtocol;
    port?: string;
    path?: string;
    intervalSeconds?: number;
    timeoutSeconds?: number;
    healthyThreshold?: number;
    unhealthyThreshold?: number;
    httpCode?: string;
    grpcCode?: string;
  },
  protocolVersion: string | undefined,
): HealthCheckConfig {
  const forApplication = isHttp(protocol);
  const checkProtocol: HealthCheckProtocol =
    requested.protocol ?? (forApplication ? (protocol as HealthCheckProtocol) : 'TCP');
  const httpCheck = isHttp(checkProtocol);
  if (!httpCheck && (requested.path !== undefined || requested.httpCode !== undefined)) {
    throw validationError(
      'Health check path and matcher are only supported for HTTP and HTTPS health checks',
    );
  }
  const grpc = protocolVersion === 'GRPC';
  const config: HealthCheckConfig = {
    enabled: requested.enabled ?? true,
    protocol: checkProtocol,
    port: requested.port ?? 'traffic-port',
    intervalSeconds: requested.intervalSeconds ?? 30,
    timeoutSeconds: requested.timeoutSeconds ?? (forApplication ? 5 : httpCheck ? 6 : 10),
    healthyThreshold: requested.healthyThreshold ?? 5,
    unhealthyThreshold: requested.unhealthyThreshold ?? 2,
  };
  if (httpCheck) {
    config.path = requested.path ?? (grpc ? '/AWS.ALB/healthcheck' : '/');
    config.matcher = grpc
      ? { grpcCode: requested.grpcCode ?? '12' }
      : { httpCode: requested.httpCode ?? (forApplication ? '200' : '200-399') };
  }
  if (config.port !== 'traffic-port') {
    const port = Number(config.port);
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw validationError(
        `Health check port '${config.port}' must be 'traffic-port' or a number between 1 and 65535`,
      );
    }
  }
  if (config.timeoutSeconds >= config.intervalSeconds) {
    throw validationError('Health check timeout must be smaller than the interval');
  }
  if (!config.enabled) {
    throw validationError(
      `Health checks cannot be disabled for target groups with target type 'instance' or 'ip'`,
    );
  }
  return config;
}

/** Attributes AWS reports for a new target group, by the kind of load balancer it serves. */
export function defaultAttributes(
  protocol: TargetGroupProtocol,
  targetType: TargetType,
): Map<string, string> {
  if (isHttp(protocol)) {
    return new Map([
      ['deregistration_delay.timeout_seconds', '300'],
      ['stickiness.enabled', 'false'],
      ['stickiness.type', 'lb_cookie'],
      ['stickiness.lb_cookie.duration_seconds', '86400'],
      ['slow_start.duration_seconds', '0'],
      ['load_balancing.algorithm.type', 'round_robin'],
      ['load_balancing.cross_zone.enabled', 'use_load_balancer_configuration'],
    ]);
  }
  return new Map([
    ['deregistration_delay.timeout_seconds', '300'],
    ['deregistration_delay.connection_termination.enabled', 'false'],
    ['stickiness.enabled', 'false'],
    ['stickiness.type', 'source_ip'],
    ['proxy_protocol_v2.enabled', 'false'],
    ['preserve_client_ip.enabled', targetType === 'instance' ? 'true' : 'false'],
    ['load_balancing.cross_zone.enabled', 'use_load_balancer_configuration'],
  ]);
}

export const DEREGISTRATION_DELAY = 'deregistration_delay.timeout_seconds';

/** Checks one attribute change against the group's known keys and AWS's value ranges. */
export function validateAttribute(known: ReadonlyMap<string, string>, key: string, value: string): void {
  if (!known.has(key)) {
    throw validationError(`Target group attribute key '${key}' is not recognized`);
  }
  if (key === DEREGISTRATION_DELAY) {
    const seconds = Number(value);
    if (value.trim() === '' || !Number.isInteger(seconds) || seconds < 0 || seconds > 3600) {
      throw validationError(
        `'${DEREGISTRATION_DELAY}' must be an integer between 0 and 3600, not '${value}'`,
      );
    }
    return;
  }
  if (key.endsWith('.enabled') && key !== 'load_balancing.cross_zone.enabled') {
    if (value !== 'true' && value !== 'false') {
      throw validationError(`'${key}' must be 'true' or 'false', not '${value}'`);
    }
  }
}

/** The delay, in seconds, between `DeregisterTargets` and the target's removal. */
export function deregistrationDelaySeconds(group: TargetGroupRecord): number {
  return Number(group.attributes.get(DEREGISTRATION_DELAY) ?? '300');
}

/** What `CreateTargetGroup` compares when a name is taken. */
export type TargetGroupSettings = Pick<
  TargetGroupRecord,
  'protocol' | 'protocolVersion' | 'port' | 'vpcId' | 'targetType' | 'healthCheck'
>;

/** True when two target groups were created with the same settings (AWS's idempotent create). */
export function sameSettings(a: TargetGroupSettings, b: TargetGroupSettings): boolean {
  return (
    a.protocol === b.protocol &&
    a.protocolVersion === b.protocolVersion &&
    a.port === b.port &&
    a.vpcId === b.vpcId &&
    a.targetType === b.targetType &&
    JSON.stringify(a.healthCheck) === JSON.stringify(b.healthCheck)
  );
}

/** Route 53 hosted zones of load balancers, for the Regions this project demonstrates in. */
const HOSTED_ZONES: Record<string, { application: string; network: string }> = {
  'us-east-1': { application: 'Z35SXDOTRQ7X7K', network: 'Z26RNL4JYFTOTI' },
  'us-west-2': { application: 'Z1H1FL5HABSF5', network: 'Z18D5FSROUN65G' },
  'eu-west-1': { application: 'Z32O12XQLNTSW2', network: 'Z2IFOLAFXWLO4F' },
};

export function canonicalHostedZoneId(region: string, type: LoadBalancerType): string | undefined {
  return HOSTED_ZONES[region]?.[type];
}
