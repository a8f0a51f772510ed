import {
  CreateTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  type PutCommandInput,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/lib-dynamodb';
import type { WorkflowStore } from '../core/ports.ts';
import type { OrphanRecord, Workflow, WorkflowStatus } from '../core/workflow.ts';
import type { PlanLog } from './dry-run.ts';
import { errorCode, isConditionalCheckFailed, ReplacementClaimedError } from './errors.ts';

/**
 * Workflows in one DynamoDB table with a string partition key `pk` and no sort key:
 *
 * | item        | `pk`                   | `kind`          | other attributes                             |
 * |-------------|------------------------|-----------------|----------------------------------------------|
 * | workflow    | `workflow#<id>`        | `workflow`      | every {@link Workflow} field (its `kind` as `workflowKind`); `expiresAt` TTL |
 * | replacement | `replacement#<id>`     | `replacement`   | `workflowId`                                 |
 * | heal        | `heal#<instanceId>`    | `heal`          | `healedAt` (epoch ms), `alarmName`; TTL      |
 * | registration| `reg#<instanceId>`     | `registration`  | `instanceId`, `targets`; TTL (`registration-index.ts`) |
 *
 * While a workflow is in progress its item also carries `openPartition` (always `open`) and
 * `openSince` (its `startedAt`): the sparse global secondary index {@link OPEN_INDEX} holds only
 * those items, so the sweep finds the open workflows, oldest first, at a cost that grows with them
 * and not with the table.
 *
 * Only single-item conditional puts, consistent gets, scans and index queries, so the same code
 * runs on AWS, DynamoDB Local and dynalite.
 */

export const TTL_ATTRIBUTE = 'expiresAt';
/** The sparse index of in-progress workflows (`infra/table.yml`). */
export const OPEN_INDEX = 'open-workflows';
const OPEN_PARTITION = 'openPartition';
const OPEN_SINCE = 'openSince';
const OPEN = 'open';
const WORKFLOW_KIND = 'workflow';
const ORPHAN_KIND = 'orphan';
const REPLACEMENT_KIND = 'replacement';
const HEAL_KIND = 'heal';

const workflowKey = (workflowId: string): string => `workflow#${workflowId}`;
const replacementKey = (replacementId: string): string => `replacement#${replacementId}`;
const healKey = (instanceId: string): string => `heal#${instanceId}`;

export interface DynamoWorkflowStoreOptions {
  /** One client per container. Undefined values are removed by the store, whatever the client's marshalling options. */
  client: DynamoDBDocumentClient;
  tableName: string;
  /** Aborts calls in flight, e.g. shortly before the Lambda timeout. */
  abortSignal?: AbortSignal;
}

/**
 * {@link WorkflowStore} over DynamoDB, with optimistic concurrency on `version`.
 * @example
 * const store = new DynamoWorkflowStore({ client: clients.documentClient, tableName: config.tableName });
 * if (!(await store.update({ ...workflow, version: workflow.version + 1 }))) {
 *   // another invocation wrote in between: re-read and decide again
 * }
 */
export class DynamoWorkflowStore implements WorkflowStore {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  /** The options of every `client.send`: the abort signal. */
  readonly #call: { abortSignal: AbortSignal | undefined };

  constructor(options: DynamoWorkflowStoreOptions) {
    this.#client = options.client;
    this.#tableName = options.tableName;
    this.#call = { abortSignal: options.abortSignal };
  }

  async get(workflowId: string): Promise<Workflow | undefined> {
    const output = await this.#client.send(
      new GetCommand({
        TableName: this.#tableName,
        Key: { pk: workflowKey(workflowId) },
        ConsistentRead: true,
      }),
      this.#call,
    );
    return output.Item === undefined ? undefined : toWorkflow(output.Item);
  }

  async create(workflow: Workflow): Promise<boolean> {
    return this.#put(workflowPut(this.#tableName, workflow, 'create'));
  }

  async update(workflow: Workflow): Promise<boolean> {
    return this.#put(workflowPut(this.#tableName, workflow, 'update'));
  }

  async linkReplacement(replacementId: string, workflowId: string, expiresAt: number): Promise<void> {
    try {
      await this.#client.send(
        new PutCommand(replacementPut(this.#tableName, replacementId, workflowId, expiresAt)),
        this.#call,
      );
    } catch (error) {
      if (!isConditionalCheckFailed(error)) throw error;
      const claimedBy = await this.workflowOfReplacement(replacementId);
      throw new ReplacementClaimedError(replacementId, workflowId, claimedBy, { cause: error });
    }
  }

  async workflowOfReplacement(replacementId: string): Promise<string | undefined> {
    const output = await this.#client.send(
      new GetCommand({
        TableName: this.#tableName,
        Key: { pk: replacementKey(replacementId) },
        ConsistentRead: true,
      }),
      this.#call,
    );
    const workflowId: unknown = output.Item?.['workflowId'];
    return typeof workflowId === 'string' ? workflowId : undefined;
  }

  async claimHeal(
    instanceId: string,
    heal: { at: Date; cooldownMs: number; alarmName: string; expiresAt: number },
  ): Promise<boolean> {
    return this.#put(healPut(this.#tableName, instanceId, heal));
  }

  /** Scans the table: one item per handoff (removed by TTL once finished) and one per replacement link. */
  async list(options: { status?: WorkflowStatus; limit?: number } = {}): Promise<Workflow[]> {
    const workflows: Workflow[] = [];
    let exclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.#client.send(
        new ScanCommand({
          TableName: this.#tableName,
          FilterExpression:
            options.status === undefined ? '#kind = :kind' : '#kind = :kind AND #status = :status',
          ExpressionAttributeNames: {
            '#kind': 'kind',
            ...(options.status === undefined ? {} : { '#status': 'status' }),
          },
          ExpressionAttributeValues: {
            ':kind': WORKFLOW_KIND,
            ...(options.status === undefined ? {} : { ':status': options.status }),
          },
          ExclusiveStartKey: exclusiveStartKey,
        }),
        this.#call,
      );
      for (const item of page.Items ?? []) workflows.push(toWorkflow(item));
      exclusiveStartKey = page.LastEvaluatedKey;
    } while (exclusiveStartKey !== undefined);
    return newestFirst(workflows, options.limit);
  }

  /** Queries the sparse index: only in-progress workflows are read, oldest first, a page at a time. */
  async *openWorkflows(pageSize = 100): AsyncIterable<Workflow[]> {
    let exclusiveStartKey: Record<string, unknown> | undefined;
    do {
      const page = await this.#client.send(
        new QueryCommand({
          TableName: this.#tableName,
          IndexName: OPEN_INDEX,
          KeyConditionExpression: '#partition = :open',
          ExpressionAttributeNames: { '#partition': OPEN_PARTITION },
          ExpressionAttributeValues: { ':open': OPEN },
          ScanIndexForward: true,
          Limit: pageSize,
          ExclusiveStartKey: exclusiveStartKey,
        }),
        this.#call,
      );
      // The index is eventually consistent: an item may still show a workflow that has just closed.
      const open = (page.Items ?? []).map(toWorkflow).filter((w) => w.status === 'in-progress');
      if (open.length > 0) yield open;
      exclusiveStartKey = page.LastEvaluatedKey;
    } while (exclusiveStartKey !== undefined);
  }

  async recordOrphan(orphan: OrphanRecord): Promise<void> {
    await this.#client.send(new PutCommand(orphanPut(this.#tableName, orphan)));
  }

  async orphans(): Promise<OrphanRecord[]> {
    const items = await itemsOfKind(this.#client, this.#tableName, ORPHAN_KIND);
    const found = items.map(({ pk: _pk, kind: _kind, ...orphan }) => orphan as unknown as OrphanRecord);
    return found.sort((a, b) => (a.at < b.at ? 1 : -1));
  }

  /** True when written, false when the condition did not hold. */
  async #put(input: PutCommandInput): Promise<boolean> {
    try {
      await this.#client.send(new PutCommand(input), this.#call);
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw error;
    }
  }
}

export interface DryRunWorkflowStoreOptions {
  plan: PlanLog;
  /** Where reads go when a workflow was not written in this dry run. None: the store starts empty. */
  readThrough?: WorkflowStore;
  /** Named in the plan's entries. */
  tableName?: string;
}

/**
 * A {@link WorkflowStore} for dry runs: reads go to the real store (if any), writes stay in memory
 * with the same conditions as DynamoDB's and are recorded in the plan as skipped `dynamodb` entries.
 */
export class DryRunWorkflowStore implements WorkflowStore {
  readonly #plan: PlanLog;
  readonly #readThrough: WorkflowStore | undefined;
  readonly #tableName: string;
  readonly #workflows = new Map<string, Workflow>();
  readonly #replacements = new Map<string, string>();
  readonly #heals = new Map<string, number>();
  readonly #orphans = new Map<string, OrphanRecord>();

  constructor(options: DryRunWorkflowStoreOptions) {
    this.#plan = options.plan;
    this.#readThrough = options.readThrough;
    this.#tableName = options.tableName ?? 'workflows';
  }

  async get(workflowId: string): Promise<Workflow | undefined> {
    const written = this.#workflows.get(workflowId);
    if (written !== undefined) return structuredClone(written);
    return this.#readThrough?.get(workflowId);
  }

  async create(workflow: Workflow): Promise<boolean> {
    if ((await this.get(workflow.workflowId)) !== undefined) return false;
    this.#write(workflow, 'create');
    return true;
  }

  async update(workflow: Workflow): Promise<boolean> {
    const stored = await this.get(workflow.workflowId);
    if (stored === undefined || stored.version !== workflow.version - 1) return false;
    this.#write(workflow, 'update');
    return true;
  }

  async linkReplacement(replacementId: string, workflowId: string, expiresAt: number): Promise<void> {
    const claimedBy = await this.workflowOfReplacement(replacementId);
    if (claimedBy !== undefined && claimedBy !== workflowId) {
      throw new ReplacementClaimedError(replacementId, workflowId, claimedBy);
    }
    this.#replacements.set(replacementId, workflowId);
    this.#plan.record({
      service: 'dynamodb',
      action: 'PutItem',
      params: replacementPut(this.#tableName, replacementId, workflowId, expiresAt),
      outcome: 'skipped',
    });
  }

  async workflowOfReplacement(replacementId: string): Promise<string | undefined> {
    return this.#replacements.get(replacementId) ?? this.#readThrough?.workflowOfReplacement(replacementId);
  }

  async list(options: { status?: WorkflowStatus; limit?: number } = {}): Promise<Workflow[]> {
    const stored =
      this.#readThrough === undefined ? [] : await this.#readThrough.list({ status: options.status });
    const merged = new Map(stored.map((workflow) => [workflow.workflowId, workflow]));
    for (const workflow of this.#workflows.values()) {
      if (options.status === undefined || workflow.status === options.status) {
        merged.set(workflow.workflowId, structuredClone(workflow));
      } else {
        merged.delete(workflow.workflowId);
      }
    }
    return newestFirst([...merged.values()], options.limit);
  }

  async *openWorkflows(pageSize = 100): AsyncIterable<Workflow[]> {
    const open = (await this.list({ status: 'in-progress' })).reverse();
    for (let start = 0; start < open.length; start += pageSize) yield open.slice(start, start + pageSize);
  }

  /** The heal is claimed in memory only, and planned. */
  async claimHeal(
    instanceId: string,
    heal: { at: Date; cooldownMs: number; alarmName: string; expiresAt: number },
  ): Promise<boolean> {
    const last = this.#heals.get(instanceId);
    if (last !== undefined && heal.at.getTime() - last < heal.cooldownMs) return false;
    this.#heals.set(instanceId, heal.at.getTime());
    this.#plan.record({
      service: 'dynamodb',
      action: 'PutItem',
      params: healPut(this.#tableName, instanceId, heal),
      outcome: 'skipped',
    });
    return true;
  }

  async recordOrphan(orphan: OrphanRecord): Promise<void> {
    this.#orphans.set(orphan.instanceId, orphan);
    this.#plan.record({
      service: 'dynamodb',
      action: 'PutItem',
      params: orphanPut(this.#tableName, orphan),
      outcome: 'skipped',
    });
  }

  async orphans(): Promise<OrphanRecord[]> {
    const stored = (await this.#readThrough?.orphans()) ?? [];
    const merged = new Map(stored.map((o) => [o.instanceId, o]));
    for (const o of this.#orphans.values()) merged.set(o.instanceId, o);
    return [...merged.values()].sort((a, b) => (a.at < b.at ? 1 : -1));
  }

  #write(workflow: Workflow, write: 'create' | 'update'): void {
    this.#workflows.set(workflow.workflowId, withoutUndefined(workflow));
    this.#plan.record({
      service: 'dynamodb',
      action: 'PutItem',
      params: workflowPut(this.#tableName, workflow, write),
      outcome: 'skipped',
    });
  }
}

/**
 * Creates the workflow table for local runs and tests (on AWS the stack creates it): on-demand,
 * `pk` string hash key, the sparse index {@link OPEN_INDEX}, TTL on `expiresAt`. An existing table is fine; an endpoint without TTL
 * support (dynalite) is fine. Waits until the table is ACTIVE.
 */
export async function createWorkflowTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [
          { AttributeName: 'pk', AttributeType: 'S' },
          { AttributeName: OPEN_PARTITION, AttributeType: 'S' },
          { AttributeName: OPEN_SINCE, AttributeType: 'S' },
        ],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        GlobalSecondaryIndexes: [
          {
            IndexName: OPEN_INDEX,
            KeySchema: [
              { AttributeName: OPEN_PARTITION, KeyType: 'HASH' },
              { AttributeName: OPEN_SINCE, KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          },
        ],
      }),
    );
  } catch (error) {
    if (errorCode(error) !== 'ResourceInUseException') throw error;
  }
  await waitUntilTableExists(
    { client, minDelay: 1, maxDelay: 5, maxWaitTime: 300 },
    { TableName: tableName },
  );

  try {
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    const status = ttl.TimeToLiveDescription?.TimeToLiveStatus;
    if (
      (status === 'ENABLED' || status === 'ENABLING') &&
      ttl.TimeToLiveDescription?.AttributeName === TTL_ATTRIBUTE
    ) {
      return;
    }
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
      }),
    );
  } catch (error) {
    if (errorCode(error) !== 'UnknownOperationException') throw error;
  }
}

/**
 * The conditional put of a workflow: `create` only if no item has its key, `update` only if the
 * stored version is the one before `workflow.version`.
 */
function workflowPut(tableName: string, workflow: Workflow, write: 'create' | 'update'): PutCommandInput {
  // The item's `kind` says what the item is; the workflow's own kind is kept as `workflowKind`.
  const { kind: workflowKind, ...rest } = withoutUndefined(workflow);
  const Item = {
    ...rest,
    ...(workflowKind ? { workflowKind } : {}),
    pk: workflowKey(workflow.workflowId),
    kind: WORKFLOW_KIND,
    // Only an in-progress workflow is in the open index (a put replaces the whole item).
    ...(workflow.status === 'in-progress'
      ? { [OPEN_PARTITION]: OPEN, [OPEN_SINCE]: sortableTime(workflow.startedAt) }
      : {}),
  };
  if (write === 'create')
    return { TableName: tableName, Item, ConditionExpression: 'attribute_not_exists(pk)' };
  return {
    TableName: tableName,
    Item,
    ConditionExpression: '#version = :expected',
    ExpressionAttributeNames: { '#version': 'version' },
    ExpressionAttributeValues: { ':expected': workflow.version - 1 },
  };
}

/** Links a replacement to a workflow; a repeat of the same link succeeds, another workflow's fails. */
function replacementPut(
  tableName: string,
  replacementId: string,
  workflowId: string,
  expiresAt: number,
): PutCommandInput {
  return {
    TableName: tableName,
    Item: {
      pk: replacementKey(replacementId),
      kind: REPLACEMENT_KIND,
      workflowId,
      [TTL_ATTRIBUTE]: expiresAt,
    },
    ConditionExpression: 'attribute_not_exists(pk) OR workflowId = :workflowId',
    ExpressionAttributeValues: { ':workflowId': workflowId },
  };
}

/** An ISO time that sorts as a string (always with milliseconds); kept as is if it is not a time. */
function sortableTime(time: string): string {
  const ms = Date.parse(time);
  return Number.isNaN(ms) ? time : new Date(ms).toISOString();
}

/** Claims a heal of the instance: only if none was recorded, or the last one is older than the cooldown. */
function healPut(
  tableName: string,
  instanceId: string,
  heal: { at: Date; cooldownMs: number; alarmName: string; expiresAt: number },
): PutCommandInput {
  const healedAt = heal.at.getTime();
  return {
    TableName: tableName,
    Item: {
      pk: healKey(instanceId),
      kind: HEAL_KIND,
      healedAt,
      alarmName: heal.alarmName,
      [TTL_ATTRIBUTE]: heal.expiresAt,
    },
    ConditionExpression: 'attribute_not_exists(pk) OR healedAt <= :cooledDown',
    ExpressionAttributeValues: { ':cooledDown': healedAt - heal.cooldownMs },
  };
}

/** A workflow item without the table's own attributes. */
function toWorkflow(item: Record<string, unknown>): Workflow {
  const {
    pk: _pk,
    kind: _kind,
    [OPEN_PARTITION]: _open,
    [OPEN_SINCE]: _since,
    workflowKind,
    ...workflow
  } = item;
  return (workflowKind ? { ...workflow, kind: workflowKind } : workflow) as unknown as Workflow;
}

/** Sorted by `startedAt` as a time (ISO strings with and without milliseconds compare right), newest first. */
function newestFirst(workflows: Workflow[], limit: number | undefined): Workflow[] {
  const time = (workflow: Workflow): number => Date.parse(workflow.startedAt) || 0;
  const sorted = workflows.sort(
    (a, b) => time(b) - time(a) || (a.workflowId < b.workflowId ? -1 : a.workflowId > b.workflowId ? 1 : 0),
  );
  return limit === undefined ? sorted : sorted.slice(0, Math.max(0, limit));
}

/** A deep copy without `undefined` values, which DynamoDB cannot store. */
function withoutUndefined<T>(value: T): T {
  if (Array.isArray(value)) {
    return value.filter((element) => element !== undefined).map((element) => withoutUndefined(element)) as T;
  }
  if (typeof value === 'object' && value !== null) {
    const copy: Record<string, unknown> = {};
    for (const [key, element] of Object.entries(value)) {
      if (element !== undefined) copy[key] = withoutUndefined(element);
    }
    return copy as T;
  }
  return value;
}

function orphanPut(tableName: string, orphan: OrphanRecord): PutCommandInput {
  return {
    TableName: tableName,
    Item: { ...withoutUndefined(orphan), pk: `orphan#${orphan.instanceId}`, kind: ORPHAN_KIND },
  };
}

/** Every item of one `kind` in the table (a Scan with a filter, every page). */
export async function itemsOfKind(
  client: DynamoDBDocumentClient,
  tableName: string,
  kind: string,
): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({
        TableName: tableName,
        FilterExpression: '#kind = :kind',
        ExpressionAttributeNames: { '#kind': 'kind' },
        ExpressionAttributeValues: { ':kind': kind },
        ExclusiveStartKey: start,
      }),
    );
    items.push(...(page.Items ?? []));
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  return items;
}
