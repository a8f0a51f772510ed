import { fileURLToPath } from 'node:url';
import type { LogLevel } from '@aws-lambda-powertools/logger/types';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import type { Context } from 'aws-lambda';
import {
  type Delivery,
  LocalEventBus,
  type LocalFunction,
  loadLocalFunctions,
} from '../../localcloud/bus.ts';
import { LocalCloud } from '../../localcloud/index.ts';
import { giveState, type StatefulState } from '../../localcloud/scenarios/stateful.ts';
import {
  createWebFleet,
  registerFleet,
  type WebFleet,
  type WebFleetOptions,
} from '../../localcloud/scenarios/web-fleet.ts';
import { type CreateClientsOptions, createClients } from '../aws/clients.ts';
import { createWorkflowTable, DynamoWorkflowStore } from '../aws/workflow-store.ts';
import { type Config, readConfig } from '../config.ts';
import type { EventEnvelope } from '../core/events.ts';
import type { Policy } from '../core/policy.ts';
import type { Clock, WorkflowStore } from '../core/ports.ts';
import { type ContainerOptions, createContainer } from '../runtime/container.ts';
import { type FunctionName, functionHandlers } from '../runtime/functions.ts';
import { CliError } from './errors.ts';

/**
 * Everything a local run needs in one process: the local cloud (EC2 + ELBv2 + dynalite), the
 * workflow table, the functions of serverless.yml built as Lambda builds them (one container each,
 * over the local cloud's endpoints and clock), and the bus between them.
 */
export interface LocalStack {
  cloud: LocalCloud;
  bus: LocalEventBus;
  store: WorkflowStore;
  /** The configuration the functions run with. */
  config: Config;
  /** How the functions' SDK clients reach the local cloud (`createClients(stack.clients)`). */
  clients: CreateClientsOptions;
  /** Time moves only when advanced (tests); otherwise it follows real time × speed. */
  manualClock: boolean;
  /** The local cloud's time, as the functions see it. */
  clock: Clock;
  /** Every delivery so far, in order. */
  deliveries: Delivery[];
  /** Events from the local cloud reach the bus only if this says so (tests: lost events). */
  deliverIf: (event: EventEnvelope) => boolean;
  /** Resolves once no handler is running (retries scheduled for later are not waited for). */
  handlersIdle(): Promise<void>;
  stop(): Promise<void>;
}

export const LOCAL_TABLE = 'spot-handoff-local';

/** The repository: serverless.yml is read from here, wherever the command runs (`src/cli/` or `dist/cli/`). */
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

type Env = Record<string, string | undefined>;

export interface LocalStackOptions {
  /** `manual` (default): time moves only when advanced. A number: local-cloud seconds per real second. */
  clock?: 'manual' | number;
  /** Where the local cloud's clock starts (default: a manual clock at a fixed instant, a scaled one now). */
  clockStart?: Date;
  /**
   * Read, never written: `HANDOFF_*` settings (the table defaults to {@link LOCAL_TABLE}),
   * `POWERTOOLS_LOG_LEVEL` (default WARN) and `POWERTOOLS_METRICS_DISABLED=false` to print metrics.
   * Default: this process's environment.
   */
  env?: Env;
  /** Replacement policies per group (a local run passes the policy itself; a deployment packages policy.yml). */
  policy?: Policy;
  /** How the bus delivers events to the event functions (param `delivery`); default `direct`. */
  delivery?: 'queue' | 'direct';
}

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const env = options.env ?? process.env;
  const manualClock = (options.clock ?? 'manual') === 'manual';
  const config = readConfig({
    ...env,
    HANDOFF_TABLE_NAME: env['HANDOFF_TABLE_NAME'] || LOCAL_TABLE,
    // A manual clock does not move while a handler waits: attachments are verified by the sweep.
    // A scaled one does: a second of waiting is `speed` seconds of local-cloud time.
    HANDOFF_ATTACH_WAIT_SECONDS: manualClock ? '0' : '3',
  });
  if (options.policy) config.policy = options.policy;
  const cloud = await LocalCloud.start({ clock: options.clock ?? 'manual', clockStart: options.clockStart });
  const clients: CreateClientsOptions = {
    region: cloud.region,
    endpoints: { ec2: cloud.endpoint, elbv2: cloud.endpoint, dynamodb: cloud.dynamoEndpoint },
    credentials: cloud.clientConfig().credentials,
    env,
  };
  const clock: Clock = {
    now: () => cloud.clock.now(),
    // Real time: a manual clock would not move while the handler waits (it waits 0 s then).
    sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  };
  const container: ContainerOptions = {
    config: () => config,
    clients,
    clock,
    powertools: {
      logLevel: (env['POWERTOOLS_LOG_LEVEL'] as LogLevel | undefined) ?? 'WARN',
      publishMetrics: env['POWERTOOLS_METRICS_DISABLED'] === 'false',
      tracing: false,
    },
  };

  const { dynamodb, documentClient } = createClients(clients);
  let functions: LocalFunction[];
  try {
    await createWorkflowTable(dynamodb, config.tableName);
    functions = loadLocalFunctions((functionName) => {
      if (!Object.hasOwn(functionHandlers, functionName)) {
        throw new Error(
          `serverless.yml declares the function ${functionName}, which src/runtime/functions.ts does not build: add it to functionHandlers.`,
        );
      }
      const handler = functionHandlers[functionName as FunctionName](createContainer(container));
      return (event, context) => handler(event, context as Context);
    }, ROOT);
  } catch (error) {
    dynamodb.destroy();
    await cloud.stop();
    throw error;
  }
  const store = new DynamoWorkflowStore({ client: documentClient, tableName: config.tableName });
  const bus = new LocalEventBus(functions, cloud.clock, cloud.region, cloud.accountId, {
    delivery: options.delivery ?? 'direct',
    // A clock moving at a speed moves the queues' batching windows too; a manual one does not move
    // while handlers wait, so the window is real time there.
    batchingWindowClock: manualClock ? 'real' : 'virtual',
  });
  const deliveries: Delivery[] = [];
  bus.onDelivery((delivery) => deliveries.push(delivery));
  const stack: LocalStack = {
    cloud,
    bus,
    store,
    config,
    clients,
    manualClock,
    clock,
    deliveries,
    deliverIf: () => true,
    handlersIdle: () => bus.idle(),
    async stop() {
      unsubscribe();
      bus.close();
      await bus.idle();
      dynamodb.destroy();
      await cloud.stop();
    },
  };
  const unsubscribe = cloud.onEvent((event: EventEnvelope) => {
    if (stack.deliverIf(event)) bus.put(event);
  });
  return stack;
}

/** SDK clients of the local cloud's EC2 and ELBv2, for a scenario to build and watch its fleet. */
export function cloudClients(stack: LocalStack): { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client } {
  return {
    ec2: new EC2Client(stack.cloud.clientConfig()),
    elbv2: new ElasticLoadBalancingV2Client(stack.cloud.clientConfig()),
  };
}

/**
 * The demo fleet on this stack, as a user's infrastructure code would build it: launched, running
 * (read from the local cloud's state, not polled through the throttled API), registered.
 */
export async function launchFleet(
  stack: LocalStack,
  clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client },
  options: WebFleetOptions = {},
): Promise<WebFleet> {
  const fleet = await createWebFleet(clients, options);
  const running = () => fleet.instanceIds.every((id) => stack.cloud.ec2.instance(id)?.state === 'running');
  await runUntil(stack, running, 60_000, 'the fleet to run');
  await registerFleet(clients.elbv2, fleet);
  return fleet;
}

/** Gives a fleet instance state to hand over (stateful scenario) and waits until it is attached. */
export async function giveFleetState(
  stack: LocalStack,
  ec2: EC2Client,
  instanceId: string,
): Promise<StatefulState> {
  const state = await giveState(ec2, instanceId, (done, what) => runUntil(stack, done, 60_000, what));
  const attached = () =>
    stack.cloud.ec2
      .volumes()
      .every((v) => v.attachment?.instanceId !== instanceId || v.attachment.state === 'attached') &&
    stack.cloud.ec2
      .interfaces()
      .every((e) => e.attachment?.instanceId !== instanceId || e.attachment.status === 'attached');
  await runUntil(stack, attached, 60_000, 'the state to attach');
  return state;
}

/**
 * Moves the local cloud on until `done` holds: a manual clock is advanced step by step, a scaled
 * clock is given real time. Fails after `limitMs` of virtual time.
 */
export async function runUntil(
  stack: LocalStack,
  done: () => Promise<boolean> | boolean,
  limitMs: number,
  what: string,
): Promise<void> {
  const deadline = stack.cloud.clock.now().getTime() + limitMs;
  for (;;) {
    await stack.handlersIdle();
    if (await done()) return;
    if (stack.cloud.clock.now().getTime() >= deadline) {
      throw new CliError(`Timed out after ${limitMs / 1000} s of local-cloud time waiting for ${what}.`);
    }
    if (stack.manualClock) await stack.cloud.clock.advance(1_000);
    else await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
