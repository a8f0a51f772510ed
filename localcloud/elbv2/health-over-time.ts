/**
 * Target health over virtual time: what a registration reports now, and how its checks' outcome
 * follows the instances behind it as they change state. The reported state itself is the pure
 * function of `health.ts`; this keeps each registration's {@link HealthTrack} up to date.
 */
import {
  checkedState,
  DEREGISTRATION_IN_PROGRESS,
  type HealthTrack,
  invalidState,
  NOT_IN_USE,
  reportChecked,
  type TargetHealth,
} from './health.ts';
import type { Registration, TargetGroupRecord } from './model.ts';
import type { Elbv2State } from './state.ts';

/** Instance states in which ELB deregisters an instance's targets by itself. */
const TERMINATING = new Set(['shutting-down', 'terminated']);

/** An instance state change being delivered: EC2 may not have stored it yet. */
interface StateOverride {
  instanceId: string;
  state: string;
}

/** The health the load balancer reports for a registration at `now`. */
export function healthOf(
  state: Elbv2State,
  group: TargetGroupRecord,
  registration: Registration,
  now: number,
): TargetHealth {
  if (registration.drain) return DEREGISTRATION_IN_PROGRESS;
  if (group.inUseSince === undefined) return NOT_IN_USE;
  advanceHealth(state, group, registration, now);
  if (group.targetType === 'instance') {
    const instanceState = state.deps.instances.instance(registration.id)?.state ?? 'terminated';
    if (instanceState !== 'running') return invalidState(instanceState);
  }
  const checksFrom = Math.max(registration.track.since, group.inUseSince);
  return reportChecked(registration.track, now - checksFrom, group.healthCheck);
}

/**
 * Whether the target would pass health checks now: its instance, or for an `ip` target an
 * instance holding that IP, is running.
 */
export function passing(
  state: Elbv2State,
  group: TargetGroupRecord,
  registration: Pick<Registration, 'id'>,
  override?: StateOverride,
): boolean {
  const stateOf = (instanceId: string) =>
    override?.instanceId === instanceId ? override.state : state.deps.instances.instance(instanceId)?.state;
  const serves = (instanceId: string) =>
    stateOf(instanceId) === 'running' && !state.failingInstances.has(instanceId);
  if (group.targetType === 'instance') return serves(registration.id);
  return state.ownersOf(registration.id).some(serves);
}

/**
 * The application on an instance starts (or stops) failing its health checks while the instance
 * runs: its targets' checks change outcome from now, and after the unhealthy threshold the load
 * balancer reports them `unhealthy` (`Target.FailedHealthChecks`).
 */
export function setFailing(state: Elbv2State, instanceId: string, failing: boolean): void {
  if (failing) state.failingInstances.add(instanceId);
  else state.failingInstances.delete(instanceId);
  const now = state.now();
  for (const group of state.targetGroups.values()) {
    for (const registration of group.targets.values()) {
      if (!registration.drain) advanceHealth(state, group, registration, now);
    }
  }
}

/** Checks start from scratch at `now`, with the outcome they would have now. */
export function freshTrack(
  state: Elbv2State,
  group: TargetGroupRecord,
  target: Pick<Registration, 'id'>,
  now: number,
): HealthTrack {
  return { concluded: 'initial', since: now, passing: passing(state, group, target) };
}

/**
 * Brings a registration's health track up to `now`: when the checks' outcome has flipped, the
 * load balancer's conclusion so far becomes the new start.
 */
export function advanceHealth(
  state: Elbv2State,
  group: TargetGroupRecord,
  registration: Registration,
  now: number,
  override?: StateOverride,
): void {
  const outcome = passing(state, group, registration, override);
  const track = registration.track;
  if (outcome === track.passing) return;
  // An instance target that stops, or starts again, is checked from scratch.
  const concluded =
    group.targetType === 'instance'
      ? 'initial'
      : checkedState(track, now - Math.max(track.since, group.inUseSince ?? track.since), group.healthCheck);
  registration.track = { concluded, since: now, passing: outcome };
}

/** EC2 reports a state change: a terminating instance's targets drain; others are re-checked. */
export function instanceChanged(state: Elbv2State, instanceId: string, instanceState: string): void {
  state.knownInstances.add(instanceId);
  const now = state.now();
  const override = { instanceId, state: instanceState };
  for (const group of state.targetGroups.values()) {
    state.purge(group, now);
    for (const registration of group.targets.values()) {
      if (registration.drain) continue;
      if (
        group.targetType === 'instance' &&
        registration.id === instanceId &&
        TERMINATING.has(instanceState)
      ) {
        state.startDraining(group, registration, now);
        continue;
      }
      advanceHealth(state, group, registration, now, override);
    }
  }
}
