import { type DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { PoolKey, PoolMemory } from '../core/ports.ts';
import { poolKey } from '../core/ports.ts';
import { itemsOfKind, TTL_ATTRIBUTE } from './workflow-store.ts';

export interface DynamoPoolMemoryOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** How long an interruption is remembered (default one day); the item expires by DynamoDB TTL. */
  keepMs?: number;
}

const POOL_KIND = 'pool';

/**
 * {@link PoolMemory} in the workflow table: one item per pool, `pk` `pool#<type>#<az>`, `kind`
 * `pool`, the interruption times (epoch ms) in `interruptions` and a TTL one `keepMs` after the
 * latest. One UpdateItem per pool per call; `recent` scans the pool items.
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
              '#times = list_append(if_not_exists(#times, :none), :times), #ttl = :ttl',
            ExpressionAttributeNames: { '#kind': 'kind', '#times': 'interruptions', '#ttl': TTL_ATTRIBUTE },
            ExpressionAttributeValues: {
              ':kind': POOL_KIND,
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

  async recent(windowMs: number, now: Date): Promise<Map<PoolKey, number>> {
    const since = now.getTime() - windowMs;
    const counts = new Map<PoolKey, number>();
    for (const item of await itemsOfKind(this.#client, this.#tableName, POOL_KIND)) {
      const times = (item['interruptions'] as number[] | undefined) ?? [];
      const n = times.filter((t) => t >= since && t <= now.getTime()).length;
      if (n > 0) counts.set(poolKey(item as { instanceType: string; availabilityZone: string }), n);
    }
    return counts;
  }
}
