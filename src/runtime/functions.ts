import type { PartialItemFailureResponse } from '@aws-lambda-powertools/batch/types';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { InstanceOutcome } from '../core/handoff.ts';
import { type HealingResult, healFromAlarms } from '../core/healing.ts';
import { sweepOpenWorkflows } from '../core/sweep.ts';
import { deploymentOf } from '../core/trust.ts';
import type { SignalKind } from '../core/workflow.ts';
import type { Container } from './container.ts';
import { type DirectResult, isQueueBatch, takeDirectEvent, takeQueuedEvents } from './delivery.ts';

/**
 * How long before the Lambda timeout the handler's abort signal fires: every SDK call in flight
 * ends, the invocation fails (and is retried, or left to the sweep) with what it saved kept, and
 * the metrics and logs are still flushed. Every step being idempotent, nothing is lost or done twice.
 */
export const ABORT_BEFORE_TIMEOUT_MS = 3_000;

/** The Powertools chain every function shares: tracing, logger context, metrics flushed per invocation. */
function powertools<R>({ tracer, logger, metrics }: Container) {
  return middy<unknown, R, Error, Context>({ timeoutEarlyInMillis: ABORT_BEFORE_TIMEOUT_MS })
    .use(captureLambdaHandler(tracer))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
}

/**
 * A function that takes EventBridge events of the given kinds: one per invocation (delivery
 * `direct`) or a queue's batch of them (delivery `queue`), see `delivery.ts`.
 */
function eventFunction(accepts: readonly SignalKind[], container: Container) {
  return powertools<DirectResult | PartialItemFailureResponse>(container).handler(
    async (event, context, { signal }) => {
      const deps = container.deps({
        abortSignal: signal,
        ...(context.getRemainingTimeInMillis ? { remainingMs: context.getRemainingTimeInMillis() } : {}),
      });
      const deployment = deploymentOf(context.invokedFunctionArn, deps.settings.events);
      return isQueueBatch(event)
        ? takeQueuedEvents(event, accepts, deps, deployment, context)
        : takeDirectEvent(event, accepts, deps, deployment);
    },
  );
}

/** The scheduled sweep over open workflows. */
function sweepFunction(container: Container) {
  return powertools<InstanceOutcome[]>(container).handler(async (_event, context, { signal }) =>
    sweepOpenWorkflows(container.deps({ abortSignal: signal }), {
      remainingMs: () => context.getRemainingTimeInMillis?.() ?? Number.POSITIVE_INFINITY,
    }),
  );
}

/** CloudWatch alarms into ALARM: heals what an alarm marked for healing names. */
function healingFunction(container: Container) {
  return powertools<HealingResult>(container).handler(async (event) =>
    healFromAlarms([event], container.deps()),
  );
}

/**
 * Each function of serverless.yml, by its name there, built over a container: Lambda builds one in
 * `functions/<name>/handler.ts`, a local run builds every one over the local cloud.
 */
export const functionHandlers = {
  interruption: (container: Container) => eventFunction(['warning', 'rebalance'], container),
  'state-change': (container: Container) => eventFunction(['state-change'], container),
  sweeper: (container: Container) => sweepFunction(container),
  healing: (container: Container) => healingFunction(container),
};

export type FunctionName = keyof typeof functionHandlers;
