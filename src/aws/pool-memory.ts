import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { PoolKey, PoolMemory } from '../core/ports.ts';
import { poolKey } from '../core/ports.ts';
import {
  INDEX_PARTITION,
  indexedOnce,
  OPEN_PARTITION,
  OPEN_SINCE,
  POOL_KIND,
  partitionPages,
  TTL_ATTRIBUTE,
} from './workflow-store.ts';

export interface DynamoPoolMemoryOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /**
   * How long an interruption is remembered (default one day); the item expires by DynamoDB TTL.
   * At least the longest `windowMinutes` + `avoidMinutes` of the policy, or an avoidance ends early.
   */
  keepMs?: number;
}

/**
 * {@link PoolMemory} in the workflow table: one item per pool, `pk` `pool#<type>#<az>`, `kind`
 * `pool`, the interruption times (epoch ms) in `interruptions` and a TTL one `keepMs` after the
 * latest. The item is in the `pool` partition of the table's index since its latest interruption,
 * so {@link interruptionsSince} queries the pools interrupted since then and reads nothing else.
 * One UpdateItem per pool per call.
 */
export class DynamoPoolMemory implements PoolMemory {
  readonly #client: DynamoDBDocumentClient;
  readonly #tableName: string;
  readonly #keepMs: number;

  constructor(options: DynamoPoolMemoryOptions) {
    this.#client = options.client;
    this.#tableName = options.tableName;
    this.#keepMs = options.keepMs ?? 24 * 60 * 60_000;
  }

  async recordInterruptions(
    pools: readonly { instanceType: string; availabilityZone: string }[],
    at: Date,
  ): Promise<void> {
    const counts = new Map<PoolKey, { pool: (typeof pools)[number]; n: number }>();
    for (const pool of pools) {
      const key = poolKey(pool);
      counts.set(key, { pool, n: (counts.get(key)?.n ?? 0) + 1 });
    }
    await Promise.all(
      [...counts.values()].map(({ pool, n }) =>
        this.#client.send(
          new UpdateCommand({
            TableName: this.#tableName,
            Key: { pk: `pool#${pool.instanceType}#${pool.availabilityZone}` },
            UpdateExpression:
              'SET #kind = :kind, instanceType = :type, availabilityZone = :az, ' +
              '#times = list_append(if_not_exists(#times, :none), :times), #ttl = :ttl, ' +
              '#partition = :partition, #since = :since',
            ExpressionAttributeNames: {
              '#kind': 'kind',
              '#times': 'interruptions',
              '#ttl': TTL_ATTRIBUTE,
              '#partition': OPEN_PARTITION,
              '#since': OPEN_SINCE,
            },
            ExpressionAttributeValues: {
              ':kind': POOL_KIND,
              ':partition': INDEX_PARTITION.pool,
              ':since': at.toISOString(),
              ':type': pool.instanceType,
              ':az': pool.availabilityZone,
              ':none': [],
              ':times': Array.from({ length: n }, () => at.getTime()),
              ':ttl': Math.floor((at.getTime() + this.#keepMs) / 1000),
            },
          }),
        ),
      ),
    );
  }

  async interruptionsSince(since: Date, now: Date): Promise<Map<PoolKey, number[]>> {
    await indexedOnce(this.#client, this.#tableName);
    const history = new Map<PoolKey, number[]>();
    for await (const items of partitionPages(this.#client, this.#tableName, INDEX_PARTITION.pool, {
      since: since.toISOString(),
    })) {
      for (const item of items) {
        const times = ((item['interruptions'] as number[] | undefined) ?? []).filter(
          (t) => t >= since.getTime() && t <= now.getTime(),
        );
        if (times.length > 0)
          history.set(poolKey(item as { instanceType: string; availabilityZone: string }), times);
      }
    }
    return history;
  }
}
