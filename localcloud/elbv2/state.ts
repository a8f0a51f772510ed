import { AwsError, type InstanceDirectory, type VirtualClock } from '../contracts.ts';
import {
  deregistrationDelaySeconds,
  type ListenerRecord,
  type LoadBalancerRecord,
  type Registration,
  registrationKey,
  type TargetGroupRecord,
} from './model.ts';
import { validationError } from './query.ts';

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

/**
 * ELBv2's state in one Region: load balancers, listeners, target groups with their registrations,
 * and the instances it has heard of. Actions validate against it and change it.
 */
export class Elbv2State {
  readonly targetGroups = new Map<string, TargetGroupRecord>();
  readonly loadBalancers = new Map<string, LoadBalancerRecord>();
  readonly listeners = new Map<string, ListenerRecord>();
  /** Instances heard of, searched for the owners of `ip` targets. */
  readonly knownInstances = new Set<string>();
  /** Instances whose application fails its health checks although they run (a scenario's doing). */
  readonly failingInstances = new Set<string>();
  readonly timing: Elbv2Timing;

  constructor(readonly deps: Elbv2Deps) {
    this.timing = { ...DEFAULT_ELBV2_TIMING, ...deps.timing };
  }

  /** Virtual ms. */
  now(): number {
    return this.deps.clock.now().getTime();
  }

  loadBalancer(arn: string): LoadBalancerRecord {
    const lb = this.loadBalancers.get(arn);
    if (!lb) throw new AwsError('LoadBalancerNotFound', `Load balancer '${arn}' not found`);
    return lb;
  }

  targetGroup(arn: string): TargetGroupRecord {
    if (!arn.startsWith('arn:')) throw validationError(`'${arn}' is not a valid target group ARN`);
    const group = this.targetGroups.get(arn);
    if (!group) throw new AwsError('TargetGroupNotFound', `Target groups '${arn}' not found`);
    return group;
  }

  loadBalancerState(lb: LoadBalancerRecord): 'provisioning' | 'active' {
    return this.now() < lb.activeAt ? 'provisioning' : 'active';
  }

  /** The instances that hold `ip`: the owners of an `ip` target. */
  ownersOf(ip: string): string[] {
    if (this.deps.instancesWithIp) return this.deps.instancesWithIp(ip);
    return [...this.knownInstances].filter((id) => this.deps.instances.instance(id)?.privateIps.includes(ip));
  }

  /** Deregistration begins: the target drains for the group's deregistration delay, then disappears. */
  startDraining(group: TargetGroupRecord, registration: Registration, now: number): void {
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
  purge(group: TargetGroupRecord, now: number): void {
    for (const [key, registration] of group.targets) {
      if (registration.drain && registration.drain.until <= now) {
        registration.drain.cancel();
        group.targets.delete(key);
      }
    }
  }
}
