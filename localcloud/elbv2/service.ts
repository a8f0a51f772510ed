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
import { AwsError, type QueryService } from '../contracts.ts';
import { Params } from '../query.ts';
import type { Action } from './actions/context.ts';
import { loadBalancerActions } from './actions/load-balancers.ts';
import { targetGroupActions } from './actions/target-groups.ts';
import { targetActions } from './actions/targets.ts';
import { instanceChanged, setFailing } from './health-over-time.ts';
import { createInspection, type Elbv2Inspect } from './inspect.ts';
import { ELBV2_DIALECT, renderErrorResponse, renderResponse } from './query.ts';
import { type Elbv2Deps, Elbv2State } from './state.ts';

export type { TargetHealthState } from './health.ts';
export type { Elbv2Inspect, LoadBalancerView, TargetGroupView, TargetView } from './inspect.ts';
export type { Elbv2Deps, Elbv2Timing } from './state.ts';

const ACTIONS: Record<string, Action> = {
  ...loadBalancerActions,
  ...targetGroupActions,
  ...targetActions,
};

export type Elbv2Service = QueryService & {
  inspect: Elbv2Inspect;
  /** The application on the instance fails (or passes again) its health checks from now on. */
  setFailing(instanceId: string, failing: boolean): void;
};

export function createElbv2Service(deps: Elbv2Deps): Elbv2Service {
  const state = new Elbv2State(deps);
  deps.instances.onStateChange((instanceId, instanceState) =>
    instanceChanged(state, instanceId, instanceState),
  );
  return {
    apiVersion: '2015-12-01',
    handle(request) {
      const action = Object.hasOwn(ACTIONS, request.action) ? ACTIONS[request.action] : undefined;
      if (!action) {
        throw new AwsError(
          'InvalidAction',
          `Could not find operation ${request.action} for version 2015-12-01`,
        );
      }
      const params = new Params(request.params, ELBV2_DIALECT);
      return renderResponse(request.action, action({ params, state }), request.requestId);
    },
    renderError: renderErrorResponse,
    inspect: createInspection(state),
    setFailing: (instanceId, failing) => setFailing(state, instanceId, failing),
  };
}
