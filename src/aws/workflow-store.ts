import {
  CreateTableCommand,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  UpdateTimeToLiveCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  type PutCommandInput,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import type { WorkflowStore } from '../core/ports.ts';
import {
  isOnDemandFallback,
  type OrphanRecord,
  type Workflow,
  type WorkflowStatus,
} from '../core/workflow.ts';
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
 * | orphan      | `orphan#<instanceId>`  | `orphan`        | every {@link OrphanRecord} field; TTL        |
 * | pool        | `pool#<type>#<az>`     | `pool`          | `interruptions` (epoch ms); TTL (`pool-memory.ts`) |
 *
 * The items the functions read on their hot and periodic paths also carry `openPartition` and
 * `openSince`, the keys of the sparse global secondary index {@link OPEN_INDEX}, which holds only
 * them: an in-progress workflow in partition `open`, a standby in `standby` and a completed one
 * whose replacement is an On-Demand fallback in `fallback` (since their `startedAt`), an orphan in
 * `orphan` (since its `at`), a pool in `pool` (since its latest interruption). So the sweep, the
 * standby's end, the revert to Spot, the pool memory and the orphans read their own items, oldest
 * or newest first, at a cost that grows with them and not with the table; only `list()` of every
 * workflow or of another status (for `handoff status` and `handoff report`) scans.
 *
 * Only single-item conditional writes, consistent gets, scans and index queries, so the same code
 * runs on AWS, DynamoDB Local and dynalite.
 */

export const TTL_ATTRIBUTE = 'expiresAt';
/** The sparse index of the items read on the hot and periodic paths (`infra/table.yml`). */
export const OPEN_INDEX = 'open-workflows';
export const OPEN_PARTITION = 'openPartition';
export const OPEN_SINCE = 'openSince';
/** The partitions of {@link OPEN_INDEX}. */
export const INDEX_PARTITION = {
  /** In-progress workflows. */
  open: 'open',
  standby: 'standby',
  /** Completed workflows whose replacement is an On-Demand fallback (the revert to Spot reads them). */
  fallback: 'fallback',
  orphan: 'orphan',
  pool: 'pool',
} as const;
type IndexPartition = (typeof INDEX_PARTITION)[keyof typeof INDEX_PARTITION];
/** The workflow statuses with a partition of their own. */
const PARTITION_OF_STATUS: Partial<Record<WorkflowStatus, IndexPartition>> = {
  'in-progress': INDEX_PARTITION.open,
  standby: INDEX_PARTITION.standby,
};
/** The partition of a workflow, if it has one. */
const partitionOf = (workflow: Workflow): IndexPartition | undefined =>
  PARTITION_OF_STATUS[workflow.status] ??
  (isOnDemandFallback(workflow) ? INDEX_PARTITION.fallback : undefined);
/**
 * Written once the table's standbys, orphans and pools are in the index: by the table's creation
 * here, or by the first read after an upgrade from a version that indexed only open workflows.
 */
const INDEXED_MARKER = 'index#partitions-v1';
const WORKFLOW_KIND = 'workflow';
const ORPHAN_KIND = 'orphan';
const REPLACEMENT_KIND = 'replacement';
const HEAL_KIND = 'heal';
export const POOL_KIND = 'pool';

const workflowKey = (workflowId: string): string => `workflow#${workflowId}`;
const replacementKey = (replacementId: string): string => `replacement#${replacementId}`;
const healKey = (instanceId: string): string => `heal#${instanceId}`;

export interface DynamoWorkflowStoreOptions {
  /** One client per container. Undefined values are removed by the store, whatever the client's marshalling options. */
  client: DynamoDBDocumentClient;
  tableName: string;
  /** Aborts calls in flight, e.g. shortly before the Lambda timeout. */
  abortSignal?: AbortSignal;
  /**
   * Never writes, not even the one-time indexing of items written before the index had their
   * partitions (a dry run reads through this store): such items are then not found by the index.
   */
  readOnly?: boolean;
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
  readonly #readOnly: boolean;

  constructor(options: DynamoWorkflowStoreOptions) {
    this.#client = options.client;
    this.#tableName = options.tableName;
    this.#call = { abortSignal: options.abortSignal };
    this.#readOnly = options.readOnly === true;
  }

  /** Items written before the index had their partitions are indexed (once), unless read-only. */
  async #indexed(): Promise<void> {
    if (!this.#readOnly) await indexedOnce(this.#client, this.#tableName);
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

  /**
   * In progress or standby: queries their partition of the index, reading only them. Any other
   * status, or all: scans the table (one item per handoff, removed by TTL once finished, one per
   * replacement link), for `handoff status` and `handoff report`.
   */
  async list(options: { status?: WorkflowStatus; limit?: number } = {}): Promise<Workflow[]> {
    const partition = options.status === undefined ? undefined : PARTITION_OF_STATUS[options.status];
    if (partition !== undefined) {
      if (partition !== INDEX_PARTITION.open) await this.#indexed();
      const workflows: Workflow[] = [];
      for await (const items of partitionPages(this.#client, this.#tableName, partition, {
        call: this.#call,
      }))
        workflows.push(...items.map(toWorkflow).filter((w) => w.status === options.status));
      return newestFirst(workflows, options.limit);
    }
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
    for await (const items of partitionPages(this.#client, this.#tableName, INDEX_PARTITION.open, {
      pageSize,
      call: this.#call,
    })) {
      // The index is eventually consistent: an item may still show a workflow that has just closed.
      const open = items.map(toWorkflow).filter((w) => w.status === 'in-progress');
      if (open.length > 0) yield open;
    }
  }

  /** Queries the fallbacks' partition of the index. */
  async onDemandFallbacks(): Promise<Workflow[]> {
    await this.#indexed();
    const fallbacks: Workflow[] = [];
    for await (const items of partitionPages(this.#client, this.#tableName, INDEX_PARTITION.fallback, {
      newestFirst: true,
      call: this.#call,
    }))
      fallbacks.push(...items.map(toWorkflow).filter(isOnDemandFallback));
    return fallbacks;
  }

  async recordOrphan(orphan: OrphanRecord): Promise<void> {
    await this.#client.send(new PutCommand(orphanPut(this.#tableName, orphan)), this.#call);
  }

  /** Queries the orphans' partition of the index, newest first. */
  async orphans(): Promise<OrphanRecord[]> {
    await this.#indexed();
    const found: OrphanRecord[] = [];
    for await (const items of partitionPages(this.#client, this.#tableName, INDEX_PARTITION.orphan, {
      newestFirst: true,
      call: this.#call,
    })) {
      for (const { pk: _pk, kind: _kind, [OPEN_PARTITION]: _p, [OPEN_SINCE]: _s, ...orphan } of items)
        found.push(orphan as unknown as OrphanRecord);
    }
    return found;
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

  async onDemandFallbacks(): Promise<Workflow[]> {
    return (await this.list({ status: 'completed' })).filter(isOnDemandFallback);
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
  let created = false;
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
    created = true;
  } catch (error) {
    if (errorCode(error) !== 'ResourceInUseException') throw error;
  }
  await waitUntilTableExists(
    { client, minDelay: 1, maxDelay: 5, maxWaitTime: 300 },
    { TableName: tableName },
  );
  // A new table holds nothing written before the index had its partitions.
  if (created) await DynamoDBDocumentClient.from(client).send(new PutCommand(markerPut(tableName)));

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
    // Only an in-progress or standby workflow is in the index (a put replaces the whole item).
    ...indexKeys(partitionOf(workflow), workflow.startedAt),
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

/** The index attributes of an item in `partition` since `time`; none outside the index. */
export function indexKeys(
  partition: IndexPartition | undefined,
  time: string,
): Record<string, string> | Record<string, never> {
  return partition === undefined ? {} : { [OPEN_PARTITION]: partition, [OPEN_SINCE]: sortableTime(time) };
}

/** An ISO time that sorts as a string (always with milliseconds); kept as is if it is not a time. */
export function sortableTime(time: string): string {
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
    Item: {
      ...withoutUndefined(orphan),
      pk: `orphan#${orphan.instanceId}`,
      kind: ORPHAN_KIND,
      ...indexKeys(INDEX_PARTITION.orphan, orphan.at),
    },
  };
}

/**
 * The items of one partition of {@link OPEN_INDEX}, a page at a time: oldest first (or newest),
 * from `since` on when given. Reads only that partition's items.
 */
export async function* partitionPages(
  client: DynamoDBDocumentClient,
  tableName: string,
  partition: IndexPartition,
  options: {
    since?: string;
    newestFirst?: boolean;
    pageSize?: number;
    call?: { abortSignal?: AbortSignal };
  } = {},
): AsyncIterable<Record<string, unknown>[]> {
  let exclusiveStartKey: Record<string, unknown> | undefined;
  do {
    const page = await client.send(
      new QueryCommand({
        TableName: tableName,
        IndexName: OPEN_INDEX,
        KeyConditionExpression:
          options.since === undefined
            ? '#partition = :partition'
            : '#partition = :partition AND #since >= :since',
        ExpressionAttributeNames: {
          '#partition': OPEN_PARTITION,
          ...(options.since === undefined ? {} : { '#since': OPEN_SINCE }),
        },
        ExpressionAttributeValues: {
          ':partition': partition,
          ...(options.since === undefined ? {} : { ':since': sortableTime(options.since) }),
        },
        ScanIndexForward: options.newestFirst !== true,
        Limit: options.pageSize,
        ExclusiveStartKey: exclusiveStartKey,
      }),
      options.call,
    );
    yield page.Items ?? [];
    exclusiveStartKey = page.LastEvaluatedKey;
  } while (exclusiveStartKey !== undefined);
}

/** The tables whose standbys, orphans and pools are known to be in the index (per container). */
const indexedTables = new Map<string, Promise<void>>();

/**
 * Makes sure the standbys, orphans and pools written before they had partitions of their own are
 * in the index: once per table (a marker item records it) and once per container (one consistent
 * get). The first reader after an upgrade scans the table once and adds the index keys with
 * conditional updates that never touch an item written since.
 */
export function indexedOnce(client: DynamoDBDocumentClient, tableName: string): Promise<void> {
  let done = indexedTables.get(tableName);
  if (done === undefined) {
    done = indexTable(client, tableName);
    indexedTables.set(tableName, done);
    done.catch(() => indexedTables.delete(tableName));
  }
  return done;
}

async function indexTable(client: DynamoDBDocumentClient, tableName: string): Promise<void> {
  const marker = await client.send(
    new GetCommand({ TableName: tableName, Key: { pk: INDEXED_MARKER }, ConsistentRead: true }),
  );
  if (marker.Item !== undefined) return;
  let start: Record<string, unknown> | undefined;
  do {
    const page = await client.send(
      new ScanCommand({
        TableName: tableName,
        FilterExpression:
          'attribute_not_exists(#partition) AND ((#kind = :workflow AND (#status = :standby OR ' +
          '(#status = :completed AND #replacement.#capacityType = :onDemand))) OR #kind IN (:orphan, :pool))',
        ExpressionAttributeNames: {
          '#partition': OPEN_PARTITION,
          '#kind': 'kind',
          '#status': 'status',
          '#replacement': 'replacement',
          '#capacityType': 'capacityType',
        },
        ExpressionAttributeValues: {
          ':workflow': WORKFLOW_KIND,
          ':standby': 'standby',
          ':completed': 'completed',
          ':onDemand': 'on-demand',
          ':orphan': ORPHAN_KIND,
          ':pool': POOL_KIND,
        },
        ExclusiveStartKey: start,
      }),
    );
    for (const item of page.Items ?? []) await addIndexKeys(client, tableName, item);
    start = page.LastEvaluatedKey;
  } while (start !== undefined);
  await client.send(new PutCommand(markerPut(tableName)));
}

const markerPut = (tableName: string): PutCommandInput => ({
  TableName: tableName,
  Item: { pk: INDEXED_MARKER, kind: 'meta' },
});

/** The index keys of an item written before it had a partition; skipped if it changed meanwhile. */
async function addIndexKeys(
  client: DynamoDBDocumentClient,
  tableName: string,
  item: Record<string, unknown>,
): Promise<void> {
  const times = (item['interruptions'] as number[] | undefined) ?? [];
  const workflow = item['kind'] === WORKFLOW_KIND ? toWorkflow(item) : undefined;
  const workflowPartition = workflow ? partitionOf(workflow) : undefined;
  if (workflow && !workflowPartition) return;
  const [partition, since, condition] =
    workflow && workflowPartition
      ? [workflowPartition, workflow.startedAt, ' AND #status = :status']
      : item['kind'] === ORPHAN_KIND
        ? [INDEX_PARTITION.orphan, String(item['at']), '']
        : [INDEX_PARTITION.pool, new Date(Math.max(0, ...times)).toISOString(), ''];
  try {
    await client.send(
      new UpdateCommand({
        TableName: tableName,
        Key: { pk: item['pk'] },
        UpdateExpression: 'SET #partition = :partition, #since = :since',
        ConditionExpression: `attribute_exists(pk) AND attribute_not_exists(#partition)${condition}`,
        ExpressionAttributeNames: {
          '#partition': OPEN_PARTITION,
          '#since': OPEN_SINCE,
          ...(workflow ? { '#status': 'status' } : {}),
        },
        ExpressionAttributeValues: {
          ':partition': partition,
          ':since': sortableTime(since),
          ...(workflow ? { ':status': workflow.status } : {}),
        },
      }),
    );
  } catch (error) {
    if (!isConditionalCheckFailed(error)) throw error;
  }
}
