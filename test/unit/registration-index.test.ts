import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { BatchGetCommand, BatchWriteCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createPlanLog } from '../../src/aws/dry-run.ts';
import { DynamoRegistrationIndex } from '../../src/aws/registration-index.ts';
import { handOff } from '../../src/core/handoff.ts';
import type { RegistrationEntry, RegistrationIndex, Target } from '../../src/core/ports.ts';
import { keepRegistrationIndex } from '../../src/core/registration-index.ts';
import { type FakeWorld, fakeWorld } from '../support/fakes.ts';
import { warning } from '../support/signals.ts';

const TG = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef';
const NOW_S = Date.parse('2026-01-01T12:00:00Z') / 1000;

/** The index in memory, as DynamoDB keeps it; `failReads` makes every read fail. */
class MemoryIndex implements RegistrationIndex {
  readonly entries = new Map<string, RegistrationEntry>();
  writes = 0;
  failReads = false;

  async read(instanceIds: readonly string[]) {
    if (this.failReads) throw Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    return new Map(instanceIds.flatMap((id) => (this.entries.has(id) ? [[id, this.entries.get(id)!]] : [])));
  }

  async write(byInstance: ReadonlyMap<string, readonly Target[]>, expiresAt: number) {
    for (const [id, targets] of byInstance) {
      this.writes += 1;
      this.entries.set(id, { targets: [...targets], expiresAt });
    }
  }
}

function indexedWorld(): { world: FakeWorld; index: MemoryIndex } {
  const world = fakeWorld();
  const index = new MemoryIndex();
  world.deps.registrations = index;
  world.elb.addGroup(TG);
  return { world, index };
}

const register = (world: FakeWorld, id: string) =>
  world.elb.groups.get(TG)!.registrations.push({
    target: { targetGroupArn: TG, targetType: 'instance', id, port: 80 },
    state: 'healthy',
  });

describe('the sweep keeps the registration index', () => {
  it('of live managed instances, replacements included, rewriting only what changed or nears expiry', async () => {
    const { world, index } = indexedWorld();
    const served = world.ec2.add();
    const idle = world.ec2.add();
    const unmanaged = world.ec2.add({ tags: { 'spot-handoff:managed': 'false' } });
    const replacement = world.ec2.add({ tags: { 'spot-handoff:replaces': served.instanceId } });
    for (const id of [served.instanceId, unmanaged.instanceId, replacement.instanceId]) register(world, id);

    await keepRegistrationIndex(world.deps);

    expect([...index.entries.keys()].sort()).toEqual(
      [served.instanceId, idle.instanceId, replacement.instanceId].sort(),
    );
    expect(index.entries.get(served.instanceId)?.targets).toEqual([
      { targetGroupArn: TG, targetType: 'instance', id: served.instanceId, port: 80 },
    ]);
    expect(index.entries.get(idle.instanceId)?.targets).toEqual([]);

    // A minute later nothing changed: nothing is written. Then `idle` joins the group: its entry is.
    world.clock.advance(60_000);
    const written = index.writes;
    await keepRegistrationIndex(world.deps);
    expect(index.writes).toBe(written);
    register(world, idle.instanceId);
    await keepRegistrationIndex(world.deps);
    expect(index.writes).toBe(written + 1);
    expect(index.entries.get(idle.instanceId)?.targets).toHaveLength(1);

    // Near its expiry an unchanged entry is renewed.
    world.clock.advance(10 * 60_000);
    await keepRegistrationIndex(world.deps);
    expect(index.entries.get(served.instanceId)!.expiresAt).toBeGreaterThan(NOW_S + 15 * 60);
  });
});

describe('a warning with the index unusable', () => {
  it('still drains after discovery when the index cannot be read', async () => {
    const { world, index } = indexedWorld();
    const old = world.ec2.add();
    register(world, old.instanceId);
    await keepRegistrationIndex(world.deps);
    index.failReads = true;

    await handOff([warning(old.instanceId)], world.deps);

    expect(world.elb.serving(TG)).toEqual([]);
    expect(await world.store.get(`wf-${old.instanceId}`)).toMatchObject({ drained: true });
  });

  it('still drains after discovery when the drain at delivery fails', async () => {
    const { world } = indexedWorld();
    const old = world.ec2.add();
    register(world, old.instanceId);
    await keepRegistrationIndex(world.deps);
    const elb = world.elb;
    let failures = 1;
    world.deps.loadBalancing = Object.assign(Object.create(elb) as typeof elb, {
      deregister: async (targets: readonly Target[]) => {
        if (failures-- > 0) throw Object.assign(new Error('Rate exceeded'), { name: 'Throttling' });
        return elb.deregister(targets);
      },
    });

    await handOff([warning(old.instanceId)], world.deps);

    expect(world.elb.serving(TG)).toEqual([]);
    const workflow = await world.store.get(`wf-${old.instanceId}`);
    expect(workflow).toMatchObject({ drained: true });
    expect(workflow!.steps.find((s) => s.name === 'drain')?.detail).not.toContain('at delivery');
  });
});

const documentMock = mockClient(DynamoDBDocumentClient);
let client: DynamoDBDocumentClient;
beforeEach(() => {
  documentMock.reset();
  client = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
});

const target = (id: string): Target => ({ targetGroupArn: TG, targetType: 'instance', id, port: 80 });

describe('DynamoRegistrationIndex', () => {
  it('reads entries in one BatchGetItem per 100 instances, re-reads unprocessed keys, and skips expired ones', async () => {
    const ids = Array.from({ length: 150 }, (_, i) => `i-${String(i).padStart(4, '0')}`);
    const item = (id: string, expiresAt: number) => ({
      pk: `reg#${id}`,
      kind: 'registration',
      instanceId: id,
      targets: [target(id)],
      expiresAt,
    });
    documentMock
      .on(BatchGetCommand)
      .callsFakeOnce((input) => {
        const keys = input.RequestItems.idx.Keys as { pk: string }[];
        // Throttled: half the keys left unprocessed; one entry expired (DynamoDB removes it later).
        return {
          Responses: { idx: [item(ids[0]!, NOW_S - 1), item(ids[1]!, NOW_S + 60)] },
          UnprocessedKeys: { idx: { Keys: keys.slice(50) } },
        };
      })
      .callsFake((input) => {
        const keys = input.RequestItems.idx.Keys as { pk: string }[];
        return { Responses: { idx: keys.map((k) => item(k.pk.slice(4), NOW_S + 60)) } };
      });
    const index = new DynamoRegistrationIndex({ client, tableName: 'idx', clock: () => NOW_S * 1000 });

    const found = await index.read(ids);

    const requests = documentMock.commandCalls(BatchGetCommand).map((c) => c.args[0].input);
    expect(requests.map((r) => (r.RequestItems!['idx']!.Keys ?? []).length).sort()).toEqual([100, 50, 50]);
    expect(found.has(ids[0]!)).toBe(false);
    expect(found.get(ids[1]!)).toEqual({ targets: [target(ids[1]!)], expiresAt: NOW_S + 60 });
    expect(found.has(ids[120]!)).toBe(true);
    expect(found.has(ids[70]!)).toBe(true);
  });

  it('writes 25 entries per BatchWriteItem, again what was left unprocessed, and fails loudly if DynamoDB keeps refusing', async () => {
    documentMock.on(BatchWriteCommand).resolves({});
    const index = new DynamoRegistrationIndex({ client, tableName: 'idx' });
    const entries = new Map(Array.from({ length: 30 }, (_, i) => [`i-${i}`, [target(`i-${i}`)]]));

    await index.write(entries, NOW_S + 900);

    const sizes = documentMock
      .commandCalls(BatchWriteCommand)
      .map((c) => c.args[0].input.RequestItems!['idx']!.length);
    expect(sizes).toEqual([25, 5]);
    expect(documentMock.commandCalls(BatchWriteCommand)[1]!.args[0].input.RequestItems!['idx']![0]).toEqual({
      PutRequest: {
        Item: {
          pk: 'reg#i-25',
          kind: 'registration',
          instanceId: 'i-25',
          targets: [target('i-25')],
          expiresAt: NOW_S + 900,
        },
      },
    });

    documentMock.reset();
    documentMock
      .on(BatchWriteCommand)
      .callsFake((input) => ({ UnprocessedItems: { idx: input.RequestItems.idx } }));
    await expect(index.write(new Map([['i-1', [target('i-1')]]]), NOW_S)).rejects.toMatchObject({
      name: 'RegistrationIndexThrottledError',
      message: expect.stringContaining('next sweep'),
    });
    expect(documentMock.commandCalls(BatchWriteCommand)).toHaveLength(5);
  });

  it('in a dry run records its writes in the plan and sends none', async () => {
    const plan = createPlanLog();
    const index = new DynamoRegistrationIndex({ client, tableName: 'idx', dryRunPlan: plan });

    await index.write(new Map([['i-1', [target('i-1')]]]), NOW_S);

    expect(documentMock.commandCalls(BatchWriteCommand)).toHaveLength(0);
    expect(plan.entries()).toMatchObject([
      { service: 'dynamodb', action: 'BatchWriteItem', outcome: 'skipped' },
    ]);
  });
});
