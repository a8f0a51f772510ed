import {
  BatchGetCommand,
  type BatchGetCommandInput,
  BatchWriteCommand,
  type BatchWriteCommandInput,
  type DynamoDBDocumentClient,
} from '@aws-sdk/lib-dynamodb';
import type { RegistrationEntry, RegistrationIndex, Target } from '../core/ports.ts';
import { inBatches, mapConcurrently } from './batching.ts';
import type { PlanLog } from './dry-run.ts';
import { AwsAdapterError } from './errors.ts';
import { TTL_ATTRIBUTE } from './workflow-store.ts';

/** DynamoDB's limits per `BatchGetItem` and `BatchWriteItem` request. */
const KEYS_PER_READ = 100;
const ITEMS_PER_WRITE = 25;
/** Requests in flight at once. */
const CONCURRENCY = 8;
/** Tries of a batch that DynamoDB left partly unprocessed (it throttled) before failing. */
const UNPROCESSED_TRIES = 5;

const REGISTRATION_KIND = 'registration';
const registrationKey = (instanceId: string): string => `reg#${instanceId}`;

type RegistrationKey = { pk: string };
type WriteRequest = NonNullable<BatchWriteCommandInput['RequestItems']>[string][number];

export interface DynamoRegistrationIndexOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** Epoch milliseconds: an entry past its `expiresAt` is not read, whether DynamoDB has removed it yet or not. */
  clock?: () => number;
  /** Dry run: entries are read for real; writes are only recorded here. */
  dryRunPlan?: PlanLog;
  abortSignal?: AbortSignal;
}

/**
 * {@link RegistrationIndex} in the workflow table: one item per instance, `pk` `reg#<instanceId>`,
 * `kind` `registration`, `targets` (where it serves) and a TTL. A read is one `BatchGetItem` per
 * 100 instances, side by side (one round trip); the sweep writes with `BatchWriteItem`, 25 a request.
 */
export class DynamoRegistrationIndex implements RegistrationIndex {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #clock: () => number;
  readonly #plan: PlanLog | undefined;
  readonly #call: { abortSignal: AbortSignal | undefined };

  constructor(options: DynamoRegistrationIndexOptions) {
    this.#client = options.client;
    this.#tableName = options.tableName;
    this.#clock = options.clock ?? Date.now;
    this.#plan = options.dryRunPlan;
    this.#call = { abortSignal: options.abortSignal };
  }

  async read(instanceIds: readonly string[]): Promise<Map<string, RegistrationEntry>> {
    const found = new Map<string, RegistrationEntry>();
    const now = this.#clock() / 1000;
    const keys = [...new Set(instanceIds)].map((id) => ({ pk: registrationKey(id) }));
    await mapConcurrently(inBatches(keys, KEYS_PER_READ), CONCURRENCY, async (batch) => {
      await this.#untilProcessed(batch, async (pending: RegistrationKey[]) => {
        const input: BatchGetCommandInput = { RequestItems: { [this.#tableName]: { Keys: pending } } };
        const output = await this.#client.send(new BatchGetCommand(input), this.#call);
        for (const item of output.Responses?.[this.#tableName] ?? []) {
          const { instanceId, targets, [TTL_ATTRIBUTE]: expiresAt } = item;
          if (typeof expiresAt !== 'number' || expiresAt <= now) continue;
          if (typeof instanceId === 'string' && Array.isArray(targets))
            found.set(instanceId, { targets: targets as Target[], expiresAt });
        }
        return (output.UnprocessedKeys?.[this.#tableName]?.Keys ?? []) as RegistrationKey[];
      });
    });
    return found;
  }

  async write(byInstance: ReadonlyMap<string, readonly Target[]>, expiresAt: number): Promise<void> {
    const puts: WriteRequest[] = [...byInstance].map(([instanceId, targets]) => ({
      PutRequest: {
        Item: {
          pk: registrationKey(instanceId),
          kind: REGISTRATION_KIND,
          instanceId,
          targets: targets.map(({ availabilityZone, ...target }) => ({
            ...target,
            ...(availabilityZone ? { availabilityZone } : {}),
          })),
          [TTL_ATTRIBUTE]: expiresAt,
        },
      },
    }));
    if (this.#plan) {
      for (const batch of inBatches(puts, ITEMS_PER_WRITE)) {
        const params = { RequestItems: { [this.#tableName]: batch } };
        this.#plan.record({ service: 'dynamodb', action: 'BatchWriteItem', params, outcome: 'skipped' });
      }
      return;
    }
    await mapConcurrently(inBatches(puts, ITEMS_PER_WRITE), CONCURRENCY, async (batch) => {
      await this.#untilProcessed(batch, async (pending) => {
        const input: BatchWriteCommandInput = { RequestItems: { [this.#tableName]: pending } };
        const output = await this.#client.send(new BatchWriteCommand(input), this.#call);
        return (output.UnprocessedItems?.[this.#tableName] ?? []) as WriteRequest[];
      });
    });
  }

  /** Sends `batch`, then what DynamoDB left unprocessed, a few times; fails if some is still left. */
  async #untilProcessed<T>(batch: T[], send: (pending: T[]) => Promise<T[]>): Promise<void> {
    let pending = batch;
    for (let tries = 0; pending.length > 0; tries++) {
      if (tries === UNPROCESSED_TRIES) {
        throw new RegistrationIndexThrottledError(
          `DynamoDB left ${pending.length} items of the registration index unprocessed after ${tries} tries (table ${this.#tableName} throttled): the next sweep writes them again; raise the table's capacity if this persists.`,
        );
      }
      pending = await send(pending);
    }
  }
}

/** DynamoDB kept leaving part of a batch of the registration index unprocessed. */
export class RegistrationIndexThrottledError extends AwsAdapterError {
  override name = 'RegistrationIndexThrottledError';
}
