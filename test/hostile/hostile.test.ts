import { type DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { Context } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClients } from '../../src/aws/clients.ts';
import type { IntakeResult } from '../../src/core/intake.ts';
import { createContainer } from '../../src/runtime/container.ts';
import { functionHandlers } from '../../src/runtime/functions.ts';
import { type FleetWorld, fleetWorld } from '../support/local.ts';
import { type CorpusContext, HOSTILE_EVENTS } from './corpus.ts';

/**
 * The hostile corpus, each event driven through the real handlers of both event functions (not
 * only the rules in front of them) against one running fleet on the local cloud. After each:
 * nothing launched, terminated or tagged, no target deregistered, no item written; the answer is
 * the one the corpus says: refused (a counted no-op), invalid (an error naming the field) or a no-op.
 */

const MUTATIONS = [
  'RunInstances',
  'CreateFleet',
  'TerminateInstances',
  'StopInstances',
  'CreateTags',
  'DeleteTags',
  'ModifyInstanceAttribute',
  'AttachVolume',
  'DetachVolume',
  'CreateSnapshot',
  'CreateVolume',
  'AttachNetworkInterface',
  'DetachNetworkInterface',
  'AssignPrivateIpAddresses',
  'AssociateAddress',
  'RegisterTargets',
  'DeregisterTargets',
];

let world: FleetWorld;
let dynamodb: DynamoDBClient;
let handlers: { name: string; invoke: (event: unknown) => Promise<IntakeResult> }[];
let context: CorpusContext;

/** Everything the corpus must not change. */
async function snapshot() {
  const items = await dynamodb.send(new ScanCommand({ TableName: world.stack.config.tableName }));
  return {
    instances: world
      .instances()
      .map((i) => ({ id: i.instanceId, state: i.state, tags: i.tags }))
      .sort((a, b) => a.id.localeCompare(b.id)),
    targets: world.targets().sort((a, b) => a.id.localeCompare(b.id)),
    items: items.Items ?? [],
    mutations: Object.fromEntries(MUTATIONS.map((action) => [action, world.stack.cloud.calls(action)])),
  };
}

beforeAll(async () => {
  world = await fleetWorld();
  const { stack } = world;
  dynamodb = createClients(stack.clients).dynamodb;
  const container = () =>
    createContainer({
      config: () => stack.config,
      clients: stack.clients,
      clock: { now: () => stack.cloud.clock.now(), sleep: async () => {} },
      powertools: { logLevel: 'SILENT', publishMetrics: false, tracing: false },
    });
  const lambdaContext = (functionName: string) =>
    ({
      functionName,
      invokedFunctionArn: `arn:aws:lambda:${stack.cloud.region}:${stack.cloud.accountId}:function:${functionName}`,
      awsRequestId: 'hostile',
      getRemainingTimeInMillis: () => 60_000,
    }) as unknown as Context;
  handlers = (['interruption', 'state-change'] as const).map((name) => {
    const handler = functionHandlers[name](container());
    return { name, invoke: (event) => handler(event, lambdaContext(name)) as Promise<IntakeResult> };
  });
  context = {
    running: world.fleet.instanceIds[0]!,
    now: stack.cloud.clock.now().toISOString(),
    account: stack.cloud.accountId,
    region: stack.cloud.region,
  };
});

afterAll(async () => {
  dynamodb?.destroy();
  await world?.stop();
});

describe('the hostile corpus', () => {
  it('has at least 50 events, each named once', () => {
    expect(HOSTILE_EVENTS.length).toBeGreaterThanOrEqual(50);
    expect(new Set(HOSTILE_EVENTS.map((e) => e.name)).size).toBe(HOSTILE_EVENTS.length);
  });

  it.each(HOSTILE_EVENTS.map((e) => [e.name, e] as const))('%s: changes nothing', async (_name, hostile) => {
    const before = await snapshot();
    const event = hostile.event(context);

    for (const handler of handlers) {
      const answer = await handler.invoke(event).then(
        (result) => ({ result }),
        (error: unknown) => ({ error: error as Error }),
      );
      if (hostile.answer === 'invalid') {
        expect(answer, handler.name).toMatchObject({
          error: {
            name: 'InvalidEventError',
            message: expect.stringMatching(/^Invalid event: field "[^"]+"/),
          },
        });
        continue;
      }
      expect(answer, handler.name).not.toHaveProperty('error');
      const { result } = answer as { result: IntakeResult };
      if (hostile.answer === 'refused') {
        expect(result.refused, handler.name).toHaveLength(1);
        expect(result.outcomes).toEqual([]);
      } else {
        expect(result.refused, handler.name).toEqual([]);
        expect(
          result.outcomes.every((o) => o.result === 'no-op'),
          handler.name,
        ).toBe(true);
        expect(result.ignored.length + result.outcomes.length, handler.name).toBeGreaterThan(0);
      }
    }

    expect(await snapshot()).toEqual(before);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });
});
