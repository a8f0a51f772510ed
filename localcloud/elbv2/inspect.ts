import type { TargetHealthState } from './health.ts';
import { healthOf } from './health-over-time.ts';
import type { HealthCheckConfig, LoadBalancerType, TargetGroupRecord, TargetType } from './model.ts';
import { deregistrationDelaySeconds } from './model.ts';
import type { Elbv2State } from './state.ts';

/**
 * Read-only views of ELBv2's state for tests and the demo: plain, detached copies, each reporting
 * the state at the clock's current time.
 */

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

export interface Elbv2Inspect {
  targetGroups(): TargetGroupView[];
  /** By ARN or by name. */
  targetGroupOf(arnOrName: string): TargetGroupView | undefined;
  loadBalancers(): LoadBalancerView[];
}

export function createInspection(state: Elbv2State): Elbv2Inspect {
  return {
    targetGroups: () => [...state.targetGroups.values()].map((group) => viewOf(state, group)),
    targetGroupOf(arnOrName) {
      const group =
        state.targetGroups.get(arnOrName) ??
        [...state.targetGroups.values()].find((g) => g.name === arnOrName);
      return group && viewOf(state, group);
    },
    loadBalancers: () =>
      [...state.loadBalancers.values()].map((lb) => {
        const view: LoadBalancerView = {
          arn: lb.arn,
          name: lb.name,
          type: lb.type,
          state: state.loadBalancerState(lb),
          subnetIds: lb.subnets.map((s) => s.subnetId),
          listeners: [...state.listeners.values()]
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
      }),
  };
}

function viewOf(state: Elbv2State, group: TargetGroupRecord): TargetGroupView {
  const now = state.now();
  state.purge(group, now);
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
      const health = healthOf(state, group, registration, now);
      const view: TargetView = { id: registration.id, port: registration.port, state: health.state };
      if (registration.availabilityZone !== undefined) view.availabilityZone = registration.availabilityZone;
      if (health.reason !== undefined) view.reason = health.reason;
      if (health.description !== undefined) view.description = health.description;
      if (registration.drain) view.drainingUntil = new Date(registration.drain.until);
      return view;
    }),
  };
}
