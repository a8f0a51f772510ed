import { AwsError } from '../../contracts.ts';
import type { Params } from '../../query.ts';
import { NOT_REGISTERED } from '../health.ts';
import { freshTrack, healthOf } from '../health-over-time.ts';
import { type Registration, registrationKey, type TargetGroupRecord } from '../model.ts';
import { validationError } from '../query.ts';
import { members, renderTargetHealth } from '../render.ts';
import type { Elbv2State } from '../state.ts';
import type { Action } from './context.ts';

/** Targets of a target group: RegisterTargets, DeregisterTargets, DescribeTargetHealth. */
export const targetActions: Record<string, Action> = {
  /** All or nothing: AWS rejects the whole call when one target is invalid. */
  RegisterTargets({ params, state }) {
    const group = state.targetGroup(params.required('TargetGroupArn'));
    const targets = requestedTargets(params, group, true);
    const now = state.now();
    state.purge(group, now);
    const zones =
      group.targetType === 'instance'
        ? checkInstanceTargets(state, group, targets)
        : checkIpTargets(state, group, targets);
    targets.forEach((target, index) => {
      const key = registrationKey(target.id, target.port);
      const existing = group.targets.get(key);
      if (existing && !existing.drain) return;
      existing?.drain?.cancel();
      group.targets.delete(key);
      group.targets.set(key, {
        id: target.id,
        port: target.port,
        availabilityZone: zones[index],
        track: freshTrack(state, group, target, now),
      });
    });
    return {};
  },

  /** Idempotent: a target that is not registered, or already draining, is left as it is. */
  DeregisterTargets({ params, state }) {
    const group = state.targetGroup(params.required('TargetGroupArn'));
    const targets = requestedTargets(params, group, true);
    if (group.targetType === 'instance') {
      const malformed = targets.find((t) => !isInstanceId(t.id));
      if (malformed) throw validationError(`Instance ID '${malformed.id}' is not valid`);
    } else {
      const malformed = targets.find((t) => !isIpv4(t.id));
      if (malformed) throw validationError(`The IP address '${malformed.id}' is not a valid IPv4 address`);
    }
    const now = state.now();
    state.purge(group, now);
    for (const target of targets) {
      const registration = group.targets.get(registrationKey(target.id, target.port));
      if (registration && !registration.drain) state.startDraining(group, registration, now);
    }
    return {};
  },

  DescribeTargetHealth({ params, state }) {
    const group = state.targetGroup(params.required('TargetGroupArn'));
    const now = state.now();
    state.purge(group, now);
    const filter = requestedTargets(params, group, false);
    const described = (registration: Registration) =>
      renderTargetHealth(group, registration, healthOf(state, group, registration, now));
    if (filter.length === 0) {
      return { TargetHealthDescriptions: members([...group.targets.values()].map(described)) };
    }
    const rendered = filter.flatMap((target) => {
      const matches = target.portGiven
        ? [group.targets.get(registrationKey(target.id, target.port))].filter((r) => r !== undefined)
        : [...group.targets.values()].filter((r) => r.id === target.id);
      if (matches.length === 0) return [renderTargetHealth(group, target, NOT_REGISTERED)];
      return matches.map(described);
    });
    return { TargetHealthDescriptions: members(rendered) };
  },
};

interface RequestedTarget {
  id: string;
  port: number;
  /** True when the request gave the port; false when it defaulted to the group's. */
  portGiven: boolean;
  availabilityZone?: string;
}

function requestedTargets(params: Params, group: TargetGroupRecord, atLeastOne: boolean): RequestedTarget[] {
  const targets = params.structs('Targets').map((struct) => {
    const id = struct.get('Id');
    if (!id) throw validationError('A target ID must be specified');
    const port = struct.int('Port', { min: 1, max: 65535 });
    return {
      id,
      port: port ?? group.port,
      portGiven: port !== undefined,
      availabilityZone: struct.get('AvailabilityZone') || undefined,
    };
  });
  if (atLeastOne && targets.length === 0) {
    throw validationError(
      "1 validation error detected: Value null at 'targets' failed to satisfy constraint: Member must not be null",
    );
  }
  return targets;
}

function checkInstanceTargets(
  state: Elbv2State,
  group: TargetGroupRecord,
  targets: RequestedTarget[],
): Array<string | undefined> {
  const unknown: string[] = [];
  const otherVpc: string[] = [];
  const notRunning: string[] = [];
  for (const target of targets) {
    if (!isInstanceId(target.id)) throw validationError(`Instance ID '${target.id}' is not valid`);
    if (target.availabilityZone !== undefined) {
      throw validationError('An Availability Zone cannot be specified for instance targets');
    }
    state.knownInstances.add(target.id);
    const instance = state.deps.instances.instance(target.id);
    if (!instance) unknown.push(target.id);
    else if (instance.vpcId !== group.vpcId) otherVpc.push(target.id);
    else if (instance.state !== 'running') notRunning.push(target.id);
  }
  const quoted = (ids: string[]) => ids.map((id) => `'${id}'`).join(', ');
  if (unknown.length > 0) {
    throw new AwsError('InvalidTarget', `The following targets are not valid instances: ${quoted(unknown)}`);
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
function checkIpTargets(
  state: Elbv2State,
  group: TargetGroupRecord,
  targets: RequestedTarget[],
): Array<string | undefined> {
  const zones: Array<string | undefined> = [];
  const stillDraining: string[] = [];
  for (const target of targets) {
    const ip = target.id;
    if (!isIpv4(ip)) throw validationError(`The IP address '${ip}' is not a valid IPv4 address`);
    const inVpc = state.deps.instances.vpcOfIp(ip) === group.vpcId;
    const ownerZone = state
      .ownersOf(ip)
      .map((id) => state.deps.instances.instance(id)?.availabilityZone)
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

function isInstanceId(text: string): boolean {
  return /^i-[0-9a-f]{8,17}$/.test(text);
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
