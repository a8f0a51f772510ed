import {
  CreateTableCommand,
  DescribeTableCommand,
  DescribeTimeToLiveCommand,
  DynamoDBClient,
  DynamoDBServiceException,
  ResourceInUseException,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { createPlanLog } from '../../src/aws/dry-run.ts';
import { ReplacementClaimedError } from '../../src/aws/errors.ts';
import {
  createWorkflowTable,
  DryRunWorkflowStore,
  DynamoWorkflowStore,
} from '../../src/aws/workflow-store.ts';
import type { Workflow } from '../../src/core/workflow.ts';

const documentMock = mockClient(DynamoDBDocumentClient);
const dynamoMock = mockClient(DynamoDBClient);

const dynamoError = (name: string) =>
  new DynamoDBServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: 400 }, message: name });

function workflow(instanceId: string, overrides: Partial<Workflow> = {}): Workflow {
  return {
    workflowId: `wf-${instanceId}`,
    instanceId,
    version: 1,
    status: 'in-progress',
    startedAt: '2026-01-01T12:00:00.000Z',
    updatedAt: '2026-01-01T12:00:00.000Z',
    eventIds: ['event-1'],
    signals: { rebalance: false, warning: true },
    drained: false,
    elbCalls: 0,
    steps: [],
    ...overrides,
  };
}

const item = (w: Workflow) => ({ ...w, pk: `workflow#${w.workflowId}`, kind: 'workflow' });

let documentClient: DynamoDBDocumentClient;

beforeEach(() => {
  documentMock.reset();
  dynamoMock.reset();
  documentClient = DynamoDBDocumentClient.from(new DynamoDBClient({ region: 'us-east-1' }));
});

describe('DynamoWorkflowStore', () => {
  it('sends a conditional put keyed by the workflow, without undefined values', async () => {
    documentMock.on(PutCommand).resolves({});
    const store = new DynamoWorkflowStore({ client: documentClient, tableName: 'workflows' });

    await store.create(workflow('i-0abc', { outcome: undefined, expiresAt: 1_770_000_000 }));
    await store.update(workflow('i-0abc', { version: 4 }));

    const [create, update] = documentMock.commandCalls(PutCommand).map((call) => call.args[0].input);
    expect(create).toMatchObject({
      TableName: 'workflows',
      Item: { pk: 'workflow#wf-i-0abc', kind: 'workflow', expiresAt: 1_770_000_000 },
      ConditionExpression: 'attribute_not_exists(pk)',
    });
    expect(create?.Item).not.toHaveProperty('outcome');
    expect(update).toMatchObject({
      ConditionExpression: '#version = :expected',
      ExpressionAttributeNames: { '#version': 'version' },
      ExpressionAttributeValues: { ':expected': 3 },
    });
  });

  it('reads strongly consistently', async () => {
    documentMock.on(GetCommand).resolves({ Item: item(workflow('i-0abc')) });
    const store = new DynamoWorkflowStore({ client: documentClient, tableName: 'workflows' });

    const stored = await store.get('wf-i-0abc');

    expect(stored).toEqual(workflow('i-0abc'));
    expect(
      documentMock.commandCalls(GetCommand, { ConsistentRead: true, Key: { pk: 'workflow#wf-i-0abc' } }),
    ).toHaveLength(1);
  });

  it('returns false on a failed condition and throws any other error', async () => {
    documentMock
      .on(PutCommand)
      .rejectsOnce(dynamoError('ConditionalCheckFailedException'))
      .rejectsOnce(dynamoError('ProvisionedThroughputExceededException'));
    const store = new DynamoWorkflowStore({ client: documentClient, tableName: 'workflows' });

    expect(await store.create(workflow('i-0abc'))).toBe(false);
    await expect(store.create(workflow('i-0abc'))).rejects.toMatchObject({
      name: 'ProvisionedThroughputExceededException',
    });
  });

  it('lists a status without a partition of its own across scan pages', async () => {
    documentMock
      .on(ScanCommand)
      .resolvesOnce({
        Items: [item(workflow('i-1', { startedAt: '2026-01-01T10:00:00Z', status: 'completed' }))],
        LastEvaluatedKey: { pk: 'x' },
      })
      .resolvesOnce({
        Items: [item(workflow('i-2', { startedAt: '2026-01-01T11:00:00Z', status: 'completed' }))],
      });
    const store = new DynamoWorkflowStore({ client: documentClient, tableName: 'workflows' });

    const listed = await store.list({ status: 'completed' });

    expect(listed.map((w) => w.instanceId)).toEqual(['i-2', 'i-1']);
    const scans = documentMock.commandCalls(ScanCommand).map((call) => call.args[0].input);
    expect(scans.map((scan) => scan.ExclusiveStartKey)).toEqual([undefined, { pk: 'x' }]);
    expect(scans[0]).toMatchObject({
      FilterExpression: '#kind = :kind AND #status = :status',
      ExpressionAttributeValues: { ':kind': 'workflow', ':status': 'completed' },
    });
  });
});

describe('DryRunWorkflowStore', () => {
  it('keeps writes in memory with the same conditions, plans them, and never writes the table', async () => {
    // Prepare: the real table holds one workflow
    documentMock.on(GetCommand).resolves({});
    documentMock
      .on(GetCommand, { Key: { pk: 'workflow#wf-i-old' } })
      .resolves({ Item: item(workflow('i-old')) });
    documentMock
      .on(ScanCommand)
      .resolves({ Items: [item(workflow('i-old', { startedAt: '2026-01-01T09:00:00Z' }))] });
    const plan = createPlanLog();
    const store = new DryRunWorkflowStore({
      plan,
      readThrough: new DynamoWorkflowStore({ client: documentClient, tableName: 'workflows' }),
      tableName: 'workflows',
    });

    // Act
    const results = {
      createExisting: await store.create(workflow('i-old')),
      updateExisting: await store.update(workflow('i-old', { version: 2, drained: true })),
      createNew: await store.create(workflow('i-new')),
      staleUpdate: await store.update(workflow('i-new', { version: 3 })),
    };
    await store.linkReplacement('i-repl', 'wf-i-new', 1770000000);

    // Assess
    expect(results).toEqual({
      createExisting: false,
      updateExisting: true,
      createNew: true,
      staleUpdate: false,
    });
    expect(await store.get('wf-i-old')).toMatchObject({ version: 2, drained: true });
    expect(await store.workflowOfReplacement('i-repl')).toBe('wf-i-new');
    expect((await store.list()).map((w) => [w.instanceId, w.version])).toEqual([
      ['i-new', 1],
      ['i-old', 2],
    ]);
    expect(documentMock.commandCalls(PutCommand)).toHaveLength(0);
    expect(plan.entries().map((entry) => [entry.service, entry.action, entry.outcome])).toEqual([
      ['dynamodb', 'PutItem', 'skipped'],
      ['dynamodb', 'PutItem', 'skipped'],
      ['dynamodb', 'PutItem', 'skipped'],
    ]);
    expect(plan.entries()[0]?.params).toMatchObject({
      TableName: 'workflows',
      Item: { pk: 'workflow#wf-i-old', version: 2 },
      ExpressionAttributeValues: { ':expected': 1 },
    });
  });

  it('works without a real store and refuses to link a replacement twice', async () => {
    const store = new DryRunWorkflowStore({ plan: createPlanLog() });

    await store.linkReplacement('i-repl', 'wf-a', 1770000000);

    await expect(store.linkReplacement('i-repl', 'wf-b', 1770000000)).rejects.toBeInstanceOf(
      ReplacementClaimedError,
    );
    expect(await store.get('wf-a')).toBeUndefined();
  });

  it('keeps its own copy of what was written', async () => {
    const store = new DryRunWorkflowStore({ plan: createPlanLog() });
    const written = workflow('i-0abc');
    await store.create(written);

    written.drained = true;

    expect((await store.get('wf-i-0abc'))?.drained).toBe(false);
  });
});

describe('createWorkflowTable', () => {
  const active = { Table: { TableName: 'workflows', TableStatus: 'ACTIVE' as const } };

  it('creates an on-demand table keyed by pk, with the sparse open-workflows index, and turns TTL on for expiresAt', async () => {
    dynamoMock.on(CreateTableCommand).resolves({});
    dynamoMock.on(DescribeTableCommand).resolves(active);
    dynamoMock
      .on(DescribeTimeToLiveCommand)
      .resolves({ TimeToLiveDescription: { TimeToLiveStatus: 'DISABLED' } });
    dynamoMock.on(UpdateTimeToLiveCommand).resolves({});

    await createWorkflowTable(new DynamoDBClient({ region: 'us-east-1' }), 'workflows');

    expect(dynamoMock.commandCalls(CreateTableCommand)[0]?.args[0].input).toEqual({
      TableName: 'workflows',
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'openPartition', AttributeType: 'S' },
        { AttributeName: 'openSince', AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [
        {
          IndexName: 'open-workflows',
          KeySchema: [
            { AttributeName: 'openPartition', KeyType: 'HASH' },
            { AttributeName: 'openSince', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
    expect(dynamoMock.commandCalls(UpdateTimeToLiveCommand)[0]?.args[0].input).toEqual({
      TableName: 'workflows',
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  it('accepts an existing table whose TTL is on already', async () => {
    dynamoMock
      .on(CreateTableCommand)
      .rejects(new ResourceInUseException({ $metadata: {}, message: 'exists' }));
    dynamoMock.on(DescribeTableCommand).resolves(active);
    dynamoMock
      .on(DescribeTimeToLiveCommand)
      .resolves({ TimeToLiveDescription: { TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' } });

    await createWorkflowTable(new DynamoDBClient({ region: 'us-east-1' }), 'workflows');

    expect(dynamoMock.commandCalls(UpdateTimeToLiveCommand)).toHaveLength(0);
  });

  it('fails on any other error', async () => {
    dynamoMock.on(CreateTableCommand).rejects(dynamoError('AccessDeniedException'));

    await expect(
      createWorkflowTable(new DynamoDBClient({ region: 'us-east-1' }), 'workflows'),
    ).rejects.toMatchObject({
      name: 'AccessDeniedException',
    });
  });
});
