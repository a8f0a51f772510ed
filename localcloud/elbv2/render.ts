/**
 * ELBv2 resources as the Query protocol's XML members, with the element names of the SDK's model
 * (`@aws-sdk/client-elastic-load-balancing-v2`, schemas) so every field round-trips.
 */
import type { TargetHealth } from './health.ts';
import type { ListenerRecord, LoadBalancerRecord, Registration, TargetGroupRecord } from './model.ts';
import { leaf, members, node, stringMembers } from './query.ts';

/** A `LoadBalancer` member. */
export function renderLoadBalancer(lb: LoadBalancerRecord, state: 'provisioning' | 'active'): string {
  return [
    leaf('LoadBalancerArn', lb.arn),
    leaf('DNSName', lb.dnsName),
    leaf('CanonicalHostedZoneId', lb.canonicalHostedZoneId),
    leaf('CreatedTime', new Date(lb.createdAt)),
    leaf('LoadBalancerName', lb.name),
    leaf('Scheme', lb.scheme),
    leaf('VpcId', lb.vpcId),
    node('State', leaf('Code', state)),
    leaf('Type', lb.type),
    members(
      'AvailabilityZones',
      lb.subnets.map(
        (s) =>
          `${leaf('ZoneName', s.availabilityZone)}${leaf('SubnetId', s.subnetId)}<LoadBalancerAddresses/>`,
      ),
    ),
    lb.type === 'application' ? stringMembers('SecurityGroups', lb.securityGroups) : '',
    leaf('IpAddressType', lb.ipAddressType),
  ].join('');
}

/** A `Listener` member whose default action forwards to target groups. */
export function renderListener(listener: ListenerRecord): string {
  const single = listener.forwardTo.length === 1 ? listener.forwardTo[0]!.targetGroupArn : undefined;
  const action =
    leaf('Type', 'forward') +
    leaf('TargetGroupArn', single) +
    node(
      'ForwardConfig',
      members(
        'TargetGroups',
        listener.forwardTo.map((tg) => leaf('TargetGroupArn', tg.targetGroupArn) + leaf('Weight', tg.weight)),
      ),
      node('TargetGroupStickinessConfig', leaf('Enabled', false)),
    );
  return [
    leaf('ListenerArn', listener.arn),
    leaf('LoadBalancerArn', listener.loadBalancerArn),
    leaf('Port', listener.port),
    leaf('Protocol', listener.protocol),
    listener.certificates.length > 0
      ? members(
          'Certificates',
          listener.certificates.map((arn) => leaf('CertificateArn', arn)),
        )
      : '',
    leaf('SslPolicy', listener.sslPolicy),
    members('DefaultActions', [action]),
  ].join('');
}

/** A `TargetGroup` member. */
export function renderTargetGroup(group: TargetGroupRecord): string {
  const hc = group.healthCheck;
  return [
    leaf('TargetGroupArn', group.arn),
    leaf('TargetGroupName', group.name),
    leaf('Protocol', group.protocol),
    leaf('ProtocolVersion', group.protocolVersion),
    leaf('Port', group.port),
    leaf('VpcId', group.vpcId),
    leaf('HealthCheckProtocol', hc.protocol),
    leaf('HealthCheckPort', hc.port),
    leaf('HealthCheckEnabled', hc.enabled),
    leaf('HealthCheckIntervalSeconds', hc.intervalSeconds),
    leaf('HealthCheckTimeoutSeconds', hc.timeoutSeconds),
    leaf('HealthyThresholdCount', hc.healthyThreshold),
    leaf('UnhealthyThresholdCount', hc.unhealthyThreshold),
    leaf('HealthCheckPath', hc.path),
    hc.matcher
      ? node('Matcher', leaf('HttpCode', hc.matcher.httpCode), leaf('GrpcCode', hc.matcher.grpcCode))
      : '',
    stringMembers('LoadBalancerArns', group.loadBalancerArns),
    leaf('TargetType', group.targetType),
    leaf('IpAddressType', group.ipAddressType),
  ].join('');
}

/** The `Attributes` list of a target group. */
export function renderAttributes(group: TargetGroupRecord): string {
  return members(
    'Attributes',
    [...group.attributes].map(([key, value]) => leaf('Key', key) + leaf('Value', value)),
  );
}

/** A `TargetHealthDescription` member. */
export function renderTargetHealth(
  group: TargetGroupRecord,
  target: Pick<Registration, 'id' | 'port' | 'availabilityZone'>,
  health: TargetHealth,
): string {
  const checkPort = group.healthCheck.port === 'traffic-port' ? String(target.port) : group.healthCheck.port;
  return [
    node(
      'Target',
      leaf('Id', target.id),
      leaf('Port', target.port),
      leaf('AvailabilityZone', target.availabilityZone),
    ),
    leaf('HealthCheckPort', checkPort),
    node(
      'TargetHealth',
      leaf('State', health.state),
      leaf('Reason', health.reason),
      leaf('Description', health.description),
    ),
  ].join('');
}
