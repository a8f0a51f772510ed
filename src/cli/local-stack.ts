import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { type Delivery, LocalEventBus, loadLocalFunctions } from '../../localcloud/bus.ts';
import { LocalCloud } from '../../localcloud/index.ts';
import { giveState, type StatefulState } from '../../localcloud/scenarios/stateful.ts';
import {
  createWebFleet,
  registerFleet,
  type WebFleet,
  type WebFleetOptions,
} from '../../localcloud/scenarios/web-fleet.ts';
import { createWorkflowTable, DynamoWorkflowStore } from '../aws/workflow-store.ts';
import type { EventEnvelope } from '../core/events.ts';
import type { WorkflowStore } from '../core/ports.ts';
import { CliError } from './summary.ts';

/**
 * Everything a local run needs in one process: the local cloud (EC2 + ELBv2 + dynalite), the
 * workflow table, the real Lambda handlers from serverless.yml, and the bus between them.
 */
export interface LocalStack {
  cloud: LocalCloud;
  bus: LocalEventBus;
  store: WorkflowStore;
  tableName: string;
  /** Time moves only when advanced (tests); otherwise it follows real time × speed. */
  manualClock: boolean;
  /** Every delivery so far, in order. */
  deliveries: Delivery[];
  /** Events from the local cloud reach the bus only if this says so (tests: lost events). */
  deliverIf: (event: EventEnvelope) => boolean;
  /** Waits until no handler runs. */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

export const LOCAL_TABLE = 'spot-handoff-local';

export async function startLocalStack(options: { clock?: 'manual' | number } = {}): Promise<LocalStack> {
  const cloud = await LocalCloud.start({ clock: options.clock ?? 'manual' });
  const env = cloud.env();
  Object.assign(process.env, env, {
    HANDOFF_TABLE_NAME: process.env['HANDOFF_TABLE_NAME'] ?? LOCAL_TABLE,
    POWERTOOLS_SERVICE_NAME: 'spot-handoff',
    POWERTOOLS_METRICS_NAMESPACE: 'SpotHandoff',
    POWERTOOLS_TRACE_ENABLED: 'false',
    POWERTOOLS_METRICS_DISABLED: process.env['POWERTOOLS_METRICS_DISABLED'] ?? 'true',
    POWERTOOLS_LOG_LEVEL: process.env['POWERTOOLS_LOG_LEVEL'] ?? 'WARN',
    AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR',
    // A manual clock does not move while a handler waits: attachments are verified by the sweep.
    // A scaled one does: a second of waiting is `speed` seconds of local-cloud time.
    HANDOFF_ATTACH_WAIT_SECONDS: options.clock === undefined || options.clock === 'manual' ? '0' : '3',
  });
  // Handlers build their clients once per container; a new local cloud is a new container.
  // (Imported only now: Powertools reads its settings from the environment when it is loaded.)
  const { resetContainers } = await import('../../functions/shared/runtime.ts');
  resetContainers({
    clock: {
      now: () => cloud.clock.now(),
      // Real time: a manual clock would not move while the handler waits (it waits 0 s then).
      sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
    },
  });
  const tableName = process.env['HANDOFF_TABLE_NAME']!;
  const dynamodb = new DynamoDBClient({ region: cloud.region });
  await createWorkflowTable(dynamodb, tableName);
  const store = new DynamoWorkflowStore({ client: DynamoDBDocumentClient.from(dynamodb), tableName });

  const functions = await loadLocalFunctions();
  const bus = new LocalEventBus(functions, cloud.clock, cloud.region, cloud.accountId);
  const deliveries: Delivery[] = [];
  bus.onDelivery((delivery) => deliveries.push(delivery));
  const stack: LocalStack = {
    cloud,
    bus,
    store,
    tableName,
    manualClock: (options.clock ?? 'manual') === 'manual',
    deliveries,
    deliverIf: () => true,
    settle: () => bus.idle(),
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
    await stack.settle();
    if (await done()) return;
    if (stack.cloud.clock.now().getTime() >= deadline) {
      throw new CliError(`Timed out after ${limitMs / 1000} s of local-cloud time waiting for ${what}.`);
    }
    if (stack.manualClock) await stack.cloud.clock.advance(1_000);
    else await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
