/**
 * ELBv2 resources as the Query protocol's XML members, with the element names of the SDK's model
 * (`@aws-sdk/client-elastic-load-balancing-v2`, schemas) so every field round-trips.
 */
import { list, type XmlObject, type XmlValue } from '../xml.ts';
import type { TargetHealth } from './health.ts';
import type { ListenerRecord, LoadBalancerRecord, Registration, TargetGroupRecord } from './model.ts';

/** ELBv2 lists every entry as a `<member>`. */
export const members = (entries: readonly XmlValue[]) => list('member', entries);

/** A `LoadBalancer` member. */
export function renderLoadBalancer(lb: LoadBalancerRecord, state: 'provisioning' | 'active'): XmlObject {
  return {
    LoadBalancerArn: lb.arn,
    DNSName: lb.dnsName,
    CanonicalHostedZoneId: lb.canonicalHostedZoneId,
    CreatedTime: new Date(lb.createdAt),
    LoadBalancerName: lb.name,
    Scheme: lb.scheme,
    VpcId: lb.vpcId,
    State: { Code: state },
    Type: lb.type,
    AvailabilityZones: members(
      lb.subnets.map((s) => ({
        ZoneName: s.availabilityZone,
        SubnetId: s.subnetId,
        LoadBalancerAddresses: members([]),
      })),
    ),
    SecurityGroups: lb.type === 'application' ? members(lb.securityGroups) : undefined,
    IpAddressType: lb.ipAddressType,
  };
}

/** A `Listener` member whose default action forwards to target groups. */
export function renderListener(listener: ListenerRecord): XmlObject {
  const single = listener.forwardTo.length === 1 ? listener.forwardTo[0]!.targetGroupArn : undefined;
  const action: XmlObject = {
    Type: 'forward',
    TargetGroupArn: single,
    ForwardConfig: {
      TargetGroups: members(
        listener.forwardTo.map((tg) => ({ TargetGroupArn: tg.targetGroupArn, Weight: tg.weight })),
      ),
      TargetGroupStickinessConfig: { Enabled: false },
    },
  };
  return {
    ListenerArn: listener.arn,
    LoadBalancerArn: listener.loadBalancerArn,
    Port: listener.port,
    Protocol: listener.protocol,
    Certificates:
      listener.certificates.length > 0
        ? members(listener.certificates.map((arn) => ({ CertificateArn: arn })))
        : undefined,
    SslPolicy: listener.sslPolicy,
    DefaultActions: members([action]),
  };
}

/** A `TargetGroup` member. */
export function renderTargetGroup(group: TargetGroupRecord): XmlObject {
  const hc = group.healthCheck;
  return {
    TargetGroupArn: group.arn,
    TargetGroupName: group.name,
    Protocol: group.protocol,
    ProtocolVersion: group.protocolVersion,
    Port: group.port,
    VpcId: group.vpcId,
    HealthCheckProtocol: hc.protocol,
    HealthCheckPort: hc.port,
    HealthCheckEnabled: hc.enabled,
    HealthCheckIntervalSeconds: hc.intervalSeconds,
    HealthCheckTimeoutSeconds: hc.timeoutSeconds,
    HealthyThresholdCount: hc.healthyThreshold,
    UnhealthyThresholdCount: hc.unhealthyThreshold,
    HealthCheckPath: hc.path,
    Matcher: hc.matcher && { HttpCode: hc.matcher.httpCode, GrpcCode: hc.matcher.grpcCode },
    LoadBalancerArns: members(group.loadBalancerArns),
    TargetType: group.targetType,
    IpAddressType: group.ipAddressType,
  };
}

/** The `Attributes` list of a target group. */
export function renderAttributes(group: TargetGroupRecord): XmlObject {
  return { Attributes: members([...group.attributes].map(([key, value]) => ({ Key: key, Value: value }))) };
}

/** A `TargetHealthDescription` member. */
export function renderTargetHealth(
  group: TargetGroupRecord,
  target: Pick<Registration, 'id' | 'port' | 'availabilityZone'>,
  health: TargetHealth,
): XmlObject {
  const checkPort = group.healthCheck.port === 'traffic-port' ? String(target.port) : group.healthCheck.port;
  return {
    Target: { Id: target.id, Port: target.port, AvailabilityZone: target.availabilityZone },
    HealthCheckPort: checkPort,
    TargetHealth: { State: health.state, Reason: health.reason, Description: health.description },
  };
}
