/**
 * Target health as ELBv2 reports it, derived from virtual time. Health checks are not simulated
 * one by one: a target's checks either pass or fail from some moment on, and the state that the
 * load balancer would report is a pure function of how long that has been so.
 *
 * Reason codes and their meaning: API reference, `TargetHealth`.
 */

export type TargetHealthState = 'initial' | 'healthy' | 'unhealthy' | 'unused' | 'draining' | 'unavailable';

export interface TargetHealth {
  state: TargetHealthState;
  /** Absent when `healthy`. */
  reason?: string;
  /** Absent when `healthy`. */
  description?: string;
}

/** The outcome of health checks so far: what the load balancer has concluded. */
export type CheckedState = 'initial' | 'healthy' | 'unhealthy';

export interface HealthCheckTiming {
  intervalSeconds: number;
  /** Consecutive passing checks before an `initial` or `unhealthy` target becomes `healthy`. */
  healthyThreshold: number;
  /** Consecutive failing checks before an `initial` or `healthy` target becomes `unhealthy`. */
  unhealthyThreshold: number;
}

/**
 * Where a target's health checks stand: at virtual ms `since` the load balancer's conclusion was
 * `concluded`, and every check from then on has `passing` as its outcome.
 */
export interface HealthTrack {
  concluded: CheckedState;
  since: number;
  passing: boolean;
}

/** What the load balancer concludes `elapsedMs` after `track.since` (negative: checks have not begun). */
export function checkedState(track: HealthTrack, elapsedMs: number, timing: HealthCheckTiming): CheckedState {
  const interval = timing.intervalSeconds * 1000;
  if (track.passing) {
    if (track.concluded === 'healthy' || elapsedMs >= timing.healthyThreshold * interval) return 'healthy';
    return track.concluded;
  }
  if (track.concluded === 'unhealthy' || elapsedMs >= timing.unhealthyThreshold * interval)
    return 'unhealthy';
  return track.concluded;
}

/** The reported health of a registered target whose group is in use and whose checks run. */
export function reportChecked(
  track: HealthTrack,
  elapsedMs: number,
  timing: HealthCheckTiming,
): TargetHealth {
  const state = checkedState(track, elapsedMs, timing);
  if (state === 'healthy') return { state };
  if (state === 'unhealthy') return FAILED_HEALTH_CHECKS;
  // The first check goes out one interval after registration completes.
  return elapsedMs < timing.intervalSeconds * 1000 ? REGISTRATION_IN_PROGRESS : INITIAL_HEALTH_CHECKING;
}

export const REGISTRATION_IN_PROGRESS: TargetHealth = {
  state: 'initial',
  reason: 'Elb.RegistrationInProgress',
  description: 'Target registration is in progress',
};

export const INITIAL_HEALTH_CHECKING: TargetHealth = {
  state: 'initial',
  reason: 'Elb.InitialHealthChecking',
  description: 'Initial health checks in progress',
};

export const FAILED_HEALTH_CHECKS: TargetHealth = {
  state: 'unhealthy',
  reason: 'Target.FailedHealthChecks',
  description: 'Health checks failed',
};

export const DEREGISTRATION_IN_PROGRESS: TargetHealth = {
  state: 'draining',
  reason: 'Target.DeregistrationInProgress',
  description: 'Target deregistration is in progress',
};

export const NOT_REGISTERED: TargetHealth = {
  state: 'unused',
  reason: 'Target.NotRegistered',
  description: 'Target is not registered to the target group',
};

export const NOT_IN_USE: TargetHealth = {
  state: 'unused',
  reason: 'Target.NotInUse',
  description: 'Target group is not configured to receive traffic from the load balancer',
};

export function invalidState(instanceState: string): TargetHealth {
  return {
    state: 'unused',
    reason: 'Target.InvalidState',
    description: `Target is in the ${instanceState} state`,
  };
}
