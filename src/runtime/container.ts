import { setMaxListeners } from 'node:events';
import { Logger } from '@aws-lambda-powertools/logger';
import type { LogLevel } from '@aws-lambda-powertools/logger/types';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { ApiBudget, type ApiBudgetOptions } from '../aws/api-budget.ts';
import { CapacitySignalCache } from '../aws/capacity-signals.ts';
import { type CreateClientsOptions, createHandoffClients, type HandoffClients } from '../aws/clients.ts';
import { awsHandoffDeps } from '../aws/handoff-deps.ts';
import type { Config } from '../config.ts';
import type { Clock, HandoffDeps, Log, Metrics as MetricsPort } from '../core/ports.ts';

/**
 * A function's container: Powertools (logger, metrics, tracer) and, built on first use, the
 * configuration, one SDK client per service wrapped by the tracer, and the adapters the core talks
 * through. Lambda builds one per function from its environment (`functions/shared/runtime.ts`); a
 * local run builds one per function from the local cloud's endpoints and clock. Nothing here reads
 * or writes the environment except Powertools' own defaults where an option is left out.
 */

const SERVICE = 'spot-handoff';
const NAMESPACE = 'SpotHandoff';

export interface Container {
  logger: Logger;
  metrics: Metrics;
  tracer: Tracer;
  /**
   * The handoff's dependencies. The configuration and the SDK clients are built on first use (so a
   * configuration error fails the invocation loudly) and shared; the adapters are bound to the
   * invocation's abort signal, so every SDK call of an invocation ends when it is aborted.
   */
  /** `remainingMs`: the invocation's time left; the API budget's waits end a margin before it. */
  deps(invocation?: { abortSignal?: AbortSignal; remainingMs?: number }): HandoffDeps;
}

export interface ContainerOptions {
  /** Read on first use: in Lambda a bad variable fails the invocation, naming it, not the import. */
  config: () => Config;
  /** Endpoints, credentials and Region of the SDK clients; default: the SDK's own resolution. */
  clients?: CreateClientsOptions;
  /** Default: the system clock (in Lambda, EC2's own time). A local run passes the local cloud's. */
  clock?: Clock;
  /**
   * The container's share of EC2's and ELBv2's request buckets (`src/aws/api-budget.ts`), spent
   * most urgent first; `false` sends every request at once (the SDK's retries alone). Default on.
   */
  apiBudget?: ApiBudgetOptions | false;
  /** Powertools settings; each one left out follows its `POWERTOOLS_*` variable. */
  powertools?: {
    logLevel?: LogLevel;
    /** `false`: metrics are counted but never written (a local run's stdout is the command's). */
    publishMetrics?: boolean;
    tracing?: boolean;
  };
}

/**
 * How long before an invocation's end its API budget stops waiting for tokens: the abort before
 * the timeout (3 s, `functions.ts`) and time to record what was done and report what was not.
 */
export const BUDGET_WAIT_MARGIN_MS = 8_000;

export function createContainer(options: ContainerOptions): Container {
  const settings = options.powertools ?? {};
  const logger = new Logger({
    serviceName: SERVICE,
    ...(settings.logLevel ? { logLevel: settings.logLevel } : {}),
  });
  const metrics =
    settings.publishMetrics === false
      ? new UnpublishedMetrics({ namespace: NAMESPACE, serviceName: SERVICE })
      : new Metrics({ namespace: NAMESPACE, serviceName: SERVICE });
  const tracer = new Tracer({
    serviceName: SERVICE,
    ...(settings.tracing === undefined ? {} : { enabled: settings.tracing }),
  });
  let built:
    | { config: Config; clients: HandoffClients; capacityCache: CapacitySignalCache; budget?: ApiBudget }
    | undefined;
  return {
    logger,
    metrics,
    tracer,
    deps(invocation = {}) {
      // Every SDK call in flight listens to the invocation's signal: a batch makes hundreds at once.
      if (invocation.abortSignal) setMaxListeners(Number.POSITIVE_INFINITY, invocation.abortSignal);
      const cold = built === undefined;
      if (!built) {
        const config = options.config();
        // Each container spends its share of the account's buckets: 1/(containers at once).
        const budget =
          options.apiBudget === false
            ? undefined
            : new ApiBudget({ share: 1 / config.apiBudgetConcurrency, ...options.apiBudget });
        built = {
          config,
          clients: tracedClients({ ...options.clients, ...(budget ? { apiBudget: budget } : {}) }, tracer),
          capacityCache: new CapacitySignalCache(),
          ...(budget ? { budget } : {}),
        };
      }
      // No wait for a token outlives the invocation: what cannot be sent in time comes back.
      built.budget?.endWaitsIn(
        invocation.remainingMs === undefined ? undefined : invocation.remainingMs - BUDGET_WAIT_MARGIN_MS,
      );
      const { budget: _budget, ...shared } = built;
      const deps = awsHandoffDeps({
        ...shared,
        log: powertoolsLog(logger),
        metrics: powertoolsMetrics(metrics),
        clock: options.clock,
        abortSignal: invocation.abortSignal,
      });
      if (cold) expandInstanceRequirements(deps, built.config);
      return deps;
    },
  };
}

/**
 * At cold start, asks EC2 for the instance types of every group given by attribute requirements,
 * without waiting: by the time a replacement is chosen the answer is usually cached.
 */
function expandInstanceRequirements(deps: HandoffDeps, config: Config): void {
  for (const [group, policy] of Object.entries(config.policy.groups)) {
    if (!policy.instanceRequirements) continue;
    deps.capacity
      ?.instanceTypesFor(policy.instanceRequirements)
      .catch((error: unknown) =>
        deps.log.warn(
          `The instance types of group ${group}'s instanceRequirements could not be read at cold start; they are read again when a replacement is chosen: ${String(error)}`,
          { group },
        ),
      );
  }
}

/** One SDK client per service for the container's life, wrapped by the tracer. */
function tracedClients(options: CreateClientsOptions, tracer: Tracer): HandoffClients {
  const clients = createHandoffClients(options);
  tracer.captureAWSv3Client(clients.ec2);
  tracer.captureAWSv3Client(clients.elbv2);
  tracer.captureAWSv3Client(clients.dynamodb);
  return clients;
}

/** Powertools metrics that are counted and cleared per invocation but never written to stdout. */
class UnpublishedMetrics extends Metrics {
  override publishStoredMetrics(): this {
    this.clearMetrics();
    this.clearDimensions();
    this.clearMetadata();
    return this;
  }

  override captureColdStartMetric(): void {}
}

export function powertoolsLog(base: Logger): Log {
  return {
    debug: (message, fields) => base.debug(message, fields ?? {}),
    info: (message, fields) => base.info(message, fields ?? {}),
    warn: (message, fields) => base.warn(message, fields ?? {}),
    error: (message, fields) => base.error(message, fields ?? {}),
    with: (keys) => {
      const child = base.createChild();
      child.appendPersistentKeys(keys);
      return powertoolsLog(child);
    },
  };
}

export function powertoolsMetrics(base: Metrics): MetricsPort {
  return {
    count: (name, value = 1) => base.addMetric(name, MetricUnit.Count, value),
    seconds: (name, seconds) => base.addMetric(name, MetricUnit.Seconds, seconds),
  };
}
