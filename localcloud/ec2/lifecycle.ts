import type { Instance } from './model.ts';
import type { Ec2State } from './state.ts';

/**
 * Instance lifecycle in virtual time: `pending` → `running`, `stopping` → `stopped`,
 * `shutting-down` → `terminated`, and Spot interruptions. Every transition emits an
 * `EC2 Instance State-change Notification`.
 */

export interface StateReason {
  code: string;
  message: string;
}

export const USER_SHUTDOWN: StateReason = {
  code: 'Client.UserInitiatedShutdown',
  message: 'Client.UserInitiatedShutdown: User initiated shutdown',
};

export const SPOT_TERMINATION: StateReason = {
  code: 'Server.SpotInstanceTermination',
  message: 'Server.SpotInstanceTermination: Spot instance termination',
};

export const SPOT_SHUTDOWN: StateReason = {
  code: 'Server.SpotInstanceShutdown',
  message: 'Server.SpotInstanceShutdown: Spot instance shutdown',
};

/** `User initiated (2026-01-01 12:00:00 GMT)` */
function transitionReason(state: Ec2State, who: 'User' | 'Service'): string {
  return `${who} initiated (${state.now().toISOString().slice(0, 19).replace('T', ' ')} GMT)`;
}

function after(state: Ec2State, instance: Instance, delayMs: number, fn: () => void) {
  instance.cancelTransition?.();
  const cancel = state.clock.schedule(delayMs, () => {
    if (instance.cancelTransition === cancel) delete instance.cancelTransition;
    fn();
  });
  instance.cancelTransition = cancel;
}

/** `pending`, then `running` once the instance has booted. */
export function boot(state: Ec2State, instance: Instance) {
  instance.stateReason = { code: 'pending', message: 'pending' };
  state.transition(instance, 'pending');
  state.syncPublicIp(instance);
  after(state, instance, state.timings.instancePending, () => {
    delete instance.stateReason;
    instance.stateTransitionReason = '';
    state.transition(instance, 'running');
  });
}

export function beginTermination(
  state: Ec2State,
  instance: Instance,
  reason: StateReason,
  by: 'User' | 'Service',
) {
  instance.cancelInterruption?.();
  instance.stateReason = reason;
  instance.stateTransitionReason = transitionReason(state, by);
  state.transition(instance, 'shutting-down');
  after(state, instance, state.timings.instanceShuttingDown, () => finishTermination(state, instance));
}

/**
 * The instance is gone: volumes and interfaces with DeleteOnTermination are deleted, the others
 * detach and become `available`. The instance stays visible for a while, then EC2 forgets it.
 */
function finishTermination(state: Ec2State, instance: Instance) {
  for (const volume of state.volumesOf(instance.instanceId)) {
    const attachment = volume.attachment!;
    attachment.cancel?.();
    if (attachment.deleteOnTermination) {
      state.volumes.delete(volume.volumeId);
    } else {
      delete volume.attachment;
      volume.state = 'available';
    }
  }
  for (const eni of state.interfacesOf(instance.instanceId)) {
    const attachment = eni.attachment!;
    attachment.cancel?.();
    if (attachment.deleteOnTermination) {
      state.deleteInterface(eni);
    } else {
      delete eni.attachment;
      eni.status = 'available';
    }
  }
  state.transition(instance, 'terminated');
  state.syncPublicIp(instance);
  state.clock.schedule(state.timings.terminatedVisible, () => {
    if (state.instances.get(instance.instanceId) === instance) state.instances.delete(instance.instanceId);
  });
}

export function beginStop(state: Ec2State, instance: Instance, reason: StateReason, by: 'User' | 'Service') {
  instance.cancelInterruption?.();
  instance.stateReason = reason;
  instance.stateTransitionReason = transitionReason(state, by);
  state.transition(instance, 'stopping');
  after(state, instance, state.timings.instanceStopping, () => {
    state.transition(instance, 'stopped');
    state.syncPublicIp(instance);
  });
}

export interface InterruptOptions {
  /** Send an `EC2 Instance Rebalance Recommendation` first. */
  rebalance?: boolean;
  /** How long before the warning the recommendation comes (default 10 minutes). */
  rebalanceLeadMs?: number;
  /** What EC2 does to the instance (default: the instance's Spot interruption behavior, `terminate` unless set). */
  action?: 'terminate' | 'stop' | 'hibernate';
  /** How long after the warning EC2 acts (default 2 minutes). */
  warningLeadMs?: number;
}

/**
 * A Spot interruption as EC2 runs it: optional rebalance recommendation, the two-minute warning,
 * then the instance is terminated (or stopped). Steps are skipped once the instance is no longer
 * running (e.g. the owner terminated it first).
 */
export function interrupt(state: Ec2State, instanceId: string, options: InterruptOptions = {}) {
  const instance = state.instances.get(instanceId);
  if (!instance) throw new Error(`Cannot interrupt ${instanceId}: no such instance`);
  if (!instance.spot) throw new Error(`Cannot interrupt ${instanceId}: not a Spot instance`);
  if (instance.state !== 'running') {
    throw new Error(`Cannot interrupt ${instanceId}: it is ${instance.state}, not running`);
  }
  const action = options.action ?? instance.spot.interruptionBehavior;
  const cancels: (() => void)[] = [];
  const act = () => {
    if (instance.state !== 'running') return;
    if (action === 'terminate') beginTermination(state, instance, SPOT_TERMINATION, 'Service');
    else beginStop(state, instance, SPOT_SHUTDOWN, 'Service');
  };
  const warn = () => {
    if (instance.state !== 'running') return;
    state.emit('EC2 Spot Instance Interruption Warning', instanceId, {
      'instance-id': instanceId,
      'instance-action': action,
    });
    cancels.push(state.clock.schedule(options.warningLeadMs ?? 120_000, act));
  };
  instance.cancelInterruption?.();
  instance.cancelInterruption = () => {
    for (const cancel of cancels) cancel();
  };
  if (options.rebalance) {
    state.emit('EC2 Instance Rebalance Recommendation', instanceId, { 'instance-id': instanceId });
    cancels.push(state.clock.schedule(options.rebalanceLeadMs ?? 600_000, warn));
  } else {
    warn();
  }
}
