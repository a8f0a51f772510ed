import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';
import { createClients } from '../../src/aws/clients.ts';
import { awsHandoffDeps } from '../../src/aws/handoff-deps.ts';
import { readConfig } from '../../src/config.ts';
import type { Clock, HandoffDeps, Log, Metrics as MetricsPort } from '../../src/core/ports.ts';

/**
 * A function's container: Powertools (logger, metrics, tracer) and, built on first use, the
 * configuration (which fails loudly), one SDK client per service wrapped by the tracer, and the
 * adapters the core talks through. In Lambda each function is its own container; locally, where
 * the functions share a process, each still gets its own.
 */

const SERVICE = 'spot-handoff';

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
    handoffSeconds: (seconds) => base.addMetric('HandoffSeconds', MetricUnit.Seconds, seconds),
  };
}

export interface Container {
  logger: Logger;
  metrics: Metrics;
  tracer: Tracer;
  /** The handoff's dependencies, built on first use (so a config error fails the invocation loudly). */
  deps(): HandoffDeps;
}

const containers = new Set<{ reset(): void }>();
/** Local runs: the local cloud's clock, so records and events share one time line. */
let localClock: Clock | undefined;

export function createContainer(): Container {
  const logger = new Logger({ serviceName: SERVICE });
  const metrics = new Metrics({ namespace: 'SpotHandoff', serviceName: SERVICE });
  const tracer = new Tracer({ serviceName: SERVICE });
  let deps: HandoffDeps | undefined;
  containers.add({ reset: () => (deps = undefined) });
  return {
    logger,
    metrics,
    tracer,
    deps() {
      if (!deps) {
        const config = readConfig();
        const clients = createClients();
        tracer.captureAWSv3Client(clients.ec2);
        tracer.captureAWSv3Client(clients.elbv2);
        tracer.captureAWSv3Client(clients.dynamodb);
        deps = awsHandoffDeps({
          config,
          clients,
          log: powertoolsLog(logger),
          metrics: powertoolsMetrics(metrics),
          clock: localClock,
        });
      }
      return deps;
    },
  };
}

/**
 * Drops every container's clients, as new Lambda containers would (local runs and tests only), and
 * sets the clock the next ones use (the local cloud's; by default the system clock).
 */
export function resetContainers(options: { clock?: Clock } = {}): void {
  localClock = options.clock;
  for (const container of containers) container.reset();
}
