import type { AddressInfo } from 'node:net';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ReplacementClaimedError } from '../../src/aws/errors.ts';
import { DynamoPoolMemory } from '../../src/aws/pool-memory.ts';
import { createWorkflowTable, DynamoWorkflowStore } from '../../src/aws/workflow-store.ts';
import type { OrphanRecord, Workflow } from '../../src/core/workflow.ts';

/** The store against dynalite, a DynamoDB that runs in the test process: real conditions, real marshalling. */

const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
let client: DynamoDBClient;
let tables = 0;
let tableName: string;
let store: DynamoWorkflowStore;

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  client = new DynamoDBClient({
    region: 'us-east-1',
    endpoint: `http://127.0.0.1:${port}`,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
});

afterAll(async () => {
  client.destroy();
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
});

beforeEach(async () => {
  // A table per test: nothing one test writes is seen by another.
  tables += 1;
  tableName = `workflows-${tables}`;
  await createWorkflowTable(client, tableName);
  // A document client without removeUndefinedValues: the store must not depend on it.
  store = new DynamoWorkflowStore({ client: DynamoDBDocumentClient.from(client), tableName });
});

function workflow(instanceId: string, overrides: Partial<Workflow> = {}): Workflow {
  return {
    workflowId: `wf-${instanceId}`,
    instanceId,
    version: 1,
    status: 'in-progress',
    outcome: undefined,
    startedAt: '2026-01-01T12:00:00.000Z',
    updatedAt: '2026-01-01T12:00:00.000Z',
    eventIds: ['event-1'],
    signals: { rebalance: false, warning: true, instanceAction: 'terminate' },
    instance: {
      instanceType: 'm5.large',
      availabilityZone: 'us-east-1a',
      subnetId: undefined,
      privateIps: ['10.0.1.10'],
      tags: { Name: 'web' },
    },
    targets: [{ targetGroupArn: 'arn:tg/web', targetType: 'instance', id: instanceId, port: 80 }],
    drained: false,
    elbCalls: 0,
    steps: [{ name: 'detected', status: 'done', at: '2026-01-01T12:00:00.000Z', elapsedMs: 0 }],
    ...overrides,
  };
}

describe('DynamoWorkflowStore on dynalite', () => {
  it('creates a workflow once and reads back what was written, undefined fields left out', async () => {
    // Prepare
    const first = workflow('i-0abc');

    // Act
    const created = await store.create(first);
    const again = await store.create({ ...first, reason: 'second writer' });

    // Assess
    expect([created, again]).toEqual([true, false]);
    const stored = await store.get('wf-i-0abc');
    expect(stored).toEqual(JSON.parse(JSON.stringify(first)));
    expect(stored).not.toHaveProperty('outcome');
    expect(stored).not.toHaveProperty('pk');
    expect(await store.get('wf-i-unknown')).toBeUndefined();
  });

  it('writes an update only over the version it was based on', async () => {
    await store.create(workflow('i-0abc'));

    const stale = await store.update(workflow('i-0abc', { version: 3, reason: 'stale' }));
    const fresh = await store.update(workflow('i-0abc', { version: 2, drained: true }));
    const replayed = await store.update(workflow('i-0abc', { version: 2, reason: 'replayed' }));
    const missing = await store.update(workflow('i-0new', { version: 2 }));

    expect({ stale, fresh, replayed, missing }).toEqual({
      stale: false,
      fresh: true,
      replayed: false,
      missing: false,
    });
    expect(await store.get('wf-i-0abc')).toMatchObject({ version: 2, drained: true });
    expect(await store.get('wf-i-0abc')).not.toHaveProperty('reason');
  });

  it('lets exactly one of two concurrent writers of the same version win', async () => {
    await store.create(workflow('i-0abc'));

    const results = await Promise.all([
      store.update(workflow('i-0abc', { version: 2, reason: 'writer A' })),
      store.update(workflow('i-0abc', { version: 2, reason: 'writer B' })),
    ]);

    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await store.get('wf-i-0abc'))?.reason).toBe(results[0] ? 'writer A' : 'writer B');
  });

  it('stores the TTL attribute at the top level of the item, as a number', async () => {
    await store.create(workflow('i-0abc', { status: 'completed', expiresAt: 1_770_000_000 }));

    const raw = await client.send(
      new GetItemCommand({
        TableName: tableName,
        Key: { pk: { S: 'workflow#wf-i-0abc' } },
        ConsistentRead: true,
      }),
    );

    expect(raw.Item?.['expiresAt']).toEqual({ N: '1770000000' });
    expect(raw.Item?.['kind']).toEqual({ S: 'workflow' });
  });

  it('links a replacement to one workflow, idempotently, and refuses a second workflow', async () => {
    await store.linkReplacement('i-0new', 'wf-i-0abc', 1770000000);
    await store.linkReplacement('i-0new', 'wf-i-0abc', 1770000000);

    const conflict = store.linkReplacement('i-0new', 'wf-i-0other', 1770000000);

    await expect(conflict).rejects.toBeInstanceOf(ReplacementClaimedError);
    await expect(conflict).rejects.toMatchObject({
      claimedBy: 'wf-i-0abc',
      message: expect.stringContaining('wf-i-0abc'),
    });
    expect(await store.workflowOfReplacement('i-0new')).toBe('wf-i-0abc');
    expect(await store.workflowOfReplacement('i-0unknown')).toBeUndefined();
    const raw = await client.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: 'replacement#i-0new' } } }),
    );
    expect(raw.Item?.['expiresAt']).toEqual({ N: '1770000000' });
  });

  it('lists workflows newest first, by status and up to a limit, without replacement links', async () => {
    await store.create(workflow('i-1', { startedAt: '2026-01-01T10:00:00.000Z' }));
    await store.create(workflow('i-2', { startedAt: '2026-01-01T12:00:00Z', status: 'completed' }));
    await store.create(workflow('i-3', { startedAt: '2026-01-01T11:00:00.500Z' }));
    await store.linkReplacement('i-new', 'wf-i-1', 1770000000);

    const all = await store.list();
    const inProgress = await store.list({ status: 'in-progress' });
    const newest = await store.list({ limit: 1 });

    expect(all.map((w) => w.instanceId)).toEqual(['i-2', 'i-3', 'i-1']);
    expect(inProgress.map((w) => w.instanceId)).toEqual(['i-3', 'i-1']);
    expect(newest.map((w) => w.instanceId)).toEqual(['i-2']);
  });

  it('finds the open workflows through the sparse index, oldest first, page by page, none other', async () => {
    const minute = (m: number) => `2026-01-01T12:${String(m).padStart(2, '0')}:00.000Z`;
    for (let m = 0; m < 7; m++) await store.create(workflow(`i-open${m}`, { startedAt: minute(59 - m) }));
    await store.create(workflow('i-done', { startedAt: minute(0), status: 'completed' }));
    await store.create(workflow('i-standby', { startedAt: minute(1), status: 'standby' }));
    await store.linkReplacement('i-new', 'wf-i-open0', 1770000000);
    // A workflow that closes leaves the index.
    await store.update(workflow('i-open6', { version: 2, startedAt: minute(53), status: 'completed' }));

    const pages: string[][] = [];
    for await (const page of store.openWorkflows(2)) pages.push(page.map((w) => w.instanceId));

    expect(pages.flat()).toEqual(['i-open5', 'i-open4', 'i-open3', 'i-open2', 'i-open1', 'i-open0']);
    expect(pages.every((page) => page.length <= 2)).toBe(true);
    const item = await client.send(
      new GetItemCommand({ TableName: tableName, Key: { pk: { S: 'workflow#wf-i-open0' } } }),
    );
    expect(item.Item?.['openSince']).toEqual({ S: minute(59) });
    expect((await store.get('wf-i-open0'))!).not.toHaveProperty('openSince');
  });

  it("ends its calls when the invocation's signal aborts, writing nothing", async () => {
    const invocation = new AbortController();
    const aborting = new DynamoWorkflowStore({
      client: DynamoDBDocumentClient.from(client),
      tableName,
      abortSignal: invocation.signal,
    });
    invocation.abort();

    await expect(aborting.create(workflow('i-late'))).rejects.toMatchObject({ name: 'AbortError' });
    expect(await store.get('wf-i-late')).toBeUndefined();
  });

  it('creates the table idempotently on an endpoint without TTL support', async () => {
    await expect(createWorkflowTable(client, tableName)).resolves.toBeUndefined();
  });
});

describe('heal claims (the healing cooldown)', () => {
  const heal = (minute: number) => ({
    at: new Date(Date.parse('2026-01-01T12:00:00Z') + minute * 60_000),
    cooldownMs: 30 * 60_000,
    alarmName: 'spot-handoff-heal-web',
    expiresAt: 1_900_000_000,
  });

  it('heals an instance once per cooldown, whoever asks', async () => {
    const [first, concurrent] = await Promise.all([
      store.claimHeal('i-0123456789abcdef0', heal(0)),
      store.claimHeal('i-0123456789abcdef0', heal(0)),
    ]);
    expect([first, concurrent].filter(Boolean)).toHaveLength(1);
    expect(await store.claimHeal('i-0123456789abcdef0', heal(29))).toBe(false);
    expect(await store.claimHeal('i-0fedcba9876543210', heal(29))).toBe(true);
    expect(await store.claimHeal('i-0123456789abcdef0', heal(30))).toBe(true);
    expect(await store.claimHeal('i-0123456789abcdef0', heal(45))).toBe(false);
  });
});

/** A document client that records, for each call, the command and how many items it read. */
function countingReads(reads: { command: string; items: number }[]): DynamoDBDocumentClient {
  const inner = DynamoDBDocumentClient.from(client);
  return {
    send: async (command: { constructor: { name: string } }, options?: unknown) => {
      const output = (await inner.send(command as never, options as never)) as {
        ScannedCount?: number;
        Item?: unknown;
      };
      reads.push({ command: command.constructor.name, items: output.ScannedCount ?? (output.Item ? 1 : 0) });
      return output;
    },
  } as unknown as DynamoDBDocumentClient;
}

const orphan = (instanceId: string, at: string): OrphanRecord => ({
  instanceId,
  action: 'terminated',
  fleetToken: 'fleet-1',
  reason: 'no workflow of its group waits for it',
  at,
  expiresAt: 1_900_000_000,
});

describe('the reads of the hot and periodic paths', () => {
  it('touch only their own items, however many finished workflows the table holds', async () => {
    const reads: { command: string; items: number }[] = [];
    const counted = new DynamoWorkflowStore({ client: countingReads(reads), tableName });
    const memory = new DynamoPoolMemory({ client: countingReads(reads), tableName });
    const minute = (m: number) => new Date(Date.parse('2026-01-01T12:00:00.000Z') + m * 60_000);
    for (let i = 0; i < 150; i++)
      await store.create(
        workflow(`i-done${i}`, { status: 'completed', startedAt: minute(i % 60).toISOString() }),
      );
    await store.create(workflow('i-open', { startedAt: minute(5).toISOString() }));
    await store.create(workflow('i-standby1', { status: 'standby', startedAt: minute(1).toISOString() }));
    await store.create(workflow('i-standby2', { status: 'standby', startedAt: minute(2).toISOString() }));
    // A standby that ends leaves its partition.
    await store.create(workflow('i-retired', { status: 'standby', startedAt: minute(3).toISOString() }));
    await store.update(workflow('i-retired', { version: 2, status: 'completed' }));
    const onDemand = {
      attempt: 1,
      clientToken: 'token',
      instanceId: 'i-od',
      capacityType: 'on-demand' as const,
    };
    await store.create(
      workflow('i-fellback', { status: 'completed', outcome: 'replaced', replacement: onDemand }),
    );
    await store.recordOrphan(orphan('i-orphan1', minute(10).toISOString()));
    await store.recordOrphan(orphan('i-orphan2', minute(20).toISOString()));
    // Pools interrupted two days before, and two within the last hour.
    for (let p = 0; p < 20; p++)
      await memory.recordInterruptions(
        [{ instanceType: `m${p}.large`, availabilityZone: 'us-east-1a' }],
        minute(-2880),
      );
    const recent = { instanceType: 'c5.large', availabilityZone: 'us-east-1b' };
    await memory.recordInterruptions([recent, recent], minute(50));
    await memory.recordInterruptions([{ ...recent, availabilityZone: 'us-east-1c' }], minute(55));
    reads.length = 0;

    const standbys = await counted.list({ status: 'standby' });
    const open = await counted.list({ status: 'in-progress' });
    const orphans = await counted.orphans();
    const fallbacks = await counted.onDemandFallbacks();
    const history = await memory.interruptionsSince(minute(0), minute(60));

    expect(standbys.map((w) => w.instanceId)).toEqual(['i-standby2', 'i-standby1']);
    expect(open.map((w) => w.instanceId)).toEqual(['i-open']);
    expect(orphans.map((o) => o.instanceId)).toEqual(['i-orphan2', 'i-orphan1']);
    expect(orphans[0]).toEqual(orphan('i-orphan2', minute(20).toISOString()));
    expect(fallbacks.map((w) => w.instanceId)).toEqual(['i-fellback']);
    expect(history).toEqual(
      new Map([
        ['c5.large|us-east-1b', [minute(50).getTime(), minute(50).getTime()]],
        ['c5.large|us-east-1c', [minute(55).getTime()]],
      ]),
    );
    // No scan; the queries read 2 standbys, 1 open workflow, 2 orphans, 1 fallback and 2 pools:
    // 8 items in 5 pages (and the table's index marker once per container), of the table's 181 items.
    expect(reads.filter((r) => r.command !== 'QueryCommand')).toEqual([{ command: 'GetCommand', items: 1 }]);
    expect(reads.filter((r) => r.command === 'QueryCommand')).toEqual([
      { command: 'QueryCommand', items: 2 },
      { command: 'QueryCommand', items: 1 },
      { command: 'QueryCommand', items: 2 },
      { command: 'QueryCommand', items: 1 },
      { command: 'QueryCommand', items: 2 },
    ]);
  });

  it('index the standbys, orphans and pools written before they had partitions, once', async () => {
    // Items as the previous version wrote them: no index keys, and no marker in the table.
    const legacy = (item: Record<string, unknown>) =>
      DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }).send(
        new PutCommand({ TableName: tableName, Item: item }),
      );
    await DynamoDBDocumentClient.from(client).send(
      new DeleteCommand({ TableName: tableName, Key: { pk: 'index#partitions-v1' } }),
    );
    const { kind: _kind, ...standby } = workflow('i-standby', { status: 'standby' });
    await legacy({ ...standby, pk: 'workflow#wf-i-standby', kind: 'workflow' });
    await legacy({
      pk: 'workflow#wf-i-done',
      kind: 'workflow',
      ...workflow('i-done', { status: 'completed' }),
    });
    await legacy({
      ...orphan('i-orphan', '2026-01-01T12:10:00.000Z'),
      pk: 'orphan#i-orphan',
      kind: 'orphan',
    });
    const at = Date.parse('2026-01-01T12:20:00.000Z');
    const onDemand = { attempt: 1, clientToken: 'token', instanceId: 'i-od', capacityType: 'on-demand' };
    const fellBack = workflow('i-fellback', { status: 'completed', outcome: 'replaced' });
    await legacy({ ...fellBack, replacement: onDemand, pk: 'workflow#wf-i-fellback', kind: 'workflow' });
    await legacy({
      pk: 'pool#m5.large#us-east-1a',
      kind: 'pool',
      instanceType: 'm5.large',
      availabilityZone: 'us-east-1a',
      interruptions: [at - 60_000, at],
    });
    const markerItem = () =>
      client.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: 'index#partitions-v1' } } }));
    // A read-only store (a dry run, the CLI) writes nothing, so it does not find them yet.
    const readOnly = new DynamoWorkflowStore({
      client: DynamoDBDocumentClient.from(client),
      tableName,
      readOnly: true,
    });
    expect(await readOnly.list({ status: 'standby' })).toEqual([]);
    expect((await markerItem()).Item).toBeUndefined();
    const reads: { command: string; items: number }[] = [];
    const upgraded = new DynamoWorkflowStore({ client: countingReads(reads), tableName });
    const memory = new DynamoPoolMemory({ client: DynamoDBDocumentClient.from(client), tableName });

    expect((await upgraded.list({ status: 'standby' })).map((w) => w.instanceId)).toEqual(['i-standby']);
    expect((await upgraded.orphans()).map((o) => o.instanceId)).toEqual(['i-orphan']);
    expect((await upgraded.onDemandFallbacks()).map((w) => w.instanceId)).toEqual(['i-fellback']);
    expect(await memory.interruptionsSince(new Date(at - 600_000), new Date(at))).toEqual(
      new Map([['m5.large|us-east-1a', [at - 60_000, at]]]),
    );
    expect(reads.filter((r) => r.command === 'ScanCommand')).toHaveLength(1);
    expect((await markerItem()).Item).toBeDefined();
    expect((await readOnly.list({ status: 'standby' })).map((w) => w.instanceId)).toEqual(['i-standby']);
  });
});
