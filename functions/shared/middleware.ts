import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { captureLambdaHandler } from '@aws-lambda-powertools/tracer/middleware';
import middy from '@middy/core';
import type { Context } from 'aws-lambda';
import type { InstanceOutcome } from '../../src/core/handoff.ts';
import { type IntakeResult, takeEvents } from '../../src/core/intake.ts';
import { sweepOpenWorkflows } from '../../src/core/sweep.ts';
import type { SignalKind } from '../../src/core/workflow.ts';
import { type Container, createContainer } from './runtime.ts';

/** The Powertools chain every function shares: tracing, logger context, metrics flushed per invocation. */
function powertools<R>({ tracer, logger, metrics }: Container) {
  return middy<unknown, R, Error, Context>()
    .use(captureLambdaHandler(tracer))
    .use(injectLambdaContext(logger, { resetKeys: true }))
    .use(logMetrics(metrics, { captureColdStartMetric: true }));
}

/** A function that takes EventBridge events of the given kinds. */
export function eventFunction(accepts: readonly SignalKind[]) {
  const container = createContainer();
  return powertools<IntakeResult>(container).handler(async (event) =>
    takeEvents([event], accepts, container.deps()),
  );
}

/** The scheduled sweep over open workflows. */
export function sweepFunction() {
  const container = createContainer();
  return powertools<InstanceOutcome[]>(container).handler(async () => sweepOpenWorkflows(container.deps()));
}
