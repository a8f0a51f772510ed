import {
  type _InstanceType,
  DescribeAvailabilityZonesCommand,
  DescribeInstancesCommand,
  DescribeReservedInstancesCommand,
  DescribeSpotPriceHistoryCommand,
  GetSpotPlacementScoresCommand,
} from '@aws-sdk/client-ec2';
import type { CapacitySignals, Clock, PoolKey, UnusedReservation } from '../core/ports.ts';
import { poolKey } from '../core/ports.ts';
import { allPages, Ec2Adapter, type Ec2AdapterOptions } from './ec2-base.ts';
import { errorCode } from './errors.ts';

export interface Ec2CapacitySignalsOptions extends Ec2AdapterOptions {
  clock: Clock;
  /** How long an answer is reused (default 5 minutes; placement scores 1 hour: AWS limits new queries per day). */
  cacheMs?: number;
}

/** Errors that mean the account may not ask: the signal is unknown, not a failure. */
const DENIED = new Set(['UnauthorizedOperation', 'AccessDenied', 'AccessDeniedException', 'OptInRequired']);

/**
 * {@link CapacitySignals} over EC2: `DescribeReservedInstances` against the running On-Demand
 * instances, `GetSpotPlacementScores` per AZ (denied: unknown), `DescribeSpotPriceHistory`. Every
 * answer is cached for the container's life up to `cacheMs`, so a burst of batches asks once.
 */
export class Ec2CapacitySignals extends Ec2Adapter implements CapacitySignals {
  readonly #cache = new Map<string, { at: number; value: Promise<unknown> }>();
  readonly #clock: Clock;
  readonly #cacheMs: number;

  constructor(options: Ec2CapacitySignalsOptions) {
    super(options);
    this.#clock = options.clock;
    this.#cacheMs = options.cacheMs ?? 5 * 60_000;
  }

  #cached<T>(key: string, ttlMs: number, read: () => Promise<T>): Promise<T> {
    const now = this.#clock.now().getTime();
    const hit = this.#cache.get(key);
    if (hit && now - hit.at < ttlMs) return hit.value as Promise<T>;
    const value = read();
    this.#cache.set(key, { at: now, value });
    value.catch(() => this.#cache.delete(key));
    return value;
  }

  unusedReservations(): Promise<UnusedReservation[]> {
    return this.#cached('reservations', this.#cacheMs, async () => {
      const { ReservedInstances = [] } = await this.client.send(
        new DescribeReservedInstancesCommand({ Filters: [{ Name: 'state', Values: ['active'] }] }),
        this.call,
      );
      const running = await allPages(async (NextToken) => {
        const page = await this.client.send(
          new DescribeInstancesCommand({
            Filters: [{ Name: 'instance-state-name', Values: ['pending', 'running'] }],
            NextToken,
          }),
          this.call,
        );
        return {
          items: page.Reservations?.flatMap((r) => r.Instances ?? []),
          nextToken: page.NextToken,
        };
      });
      // On-Demand instances not yet covered, per pool; zonal RIs cover first, then Regional ones.
      const uncovered = new Map<PoolKey, number>();
      for (const i of running) {
        if (i.InstanceLifecycle || !i.InstanceType || !i.Placement?.AvailabilityZone) continue;
        const key = poolKey({ instanceType: i.InstanceType, availabilityZone: i.Placement.AvailabilityZone });
        uncovered.set(key, (uncovered.get(key) ?? 0) + 1);
      }
      const zonalFirst = [...ReservedInstances].sort(
        (a, b) => Number(a.Scope === 'Region') - Number(b.Scope === 'Region'),
      );
      const unused: UnusedReservation[] = [];
      for (const ri of zonalFirst) {
        if (!ri.ReservedInstancesId || !ri.InstanceType) continue;
        let left = ri.InstanceCount ?? 0;
        for (const [key, count] of uncovered) {
          const [type, az] = key.split('|');
          if (type !== ri.InstanceType || (ri.Scope !== 'Region' && az !== ri.AvailabilityZone)) continue;
          const used = Math.min(left, count);
          left -= used;
          uncovered.set(key, count - used);
        }
        if (left > 0)
          unused.push({
            reservedInstancesId: ri.ReservedInstancesId,
            instanceType: ri.InstanceType,
            ...(ri.Scope === 'Region' || !ri.AvailabilityZone
              ? {}
              : { availabilityZone: ri.AvailabilityZone }),
            unused: left,
          });
      }
      return unused;
    });
  }

  placementScores(instanceTypes: readonly string[], zones: readonly string[]): Promise<Map<PoolKey, number>> {
    const types = [...new Set(instanceTypes)].sort();
    return this.#cached(`scores|${types.join(',')}`, Math.max(this.#cacheMs, 60 * 60_000), async () => {
      const scores = new Map<PoolKey, number>();
      try {
        const [answer, names] = await Promise.all([
          this.client.send(
            new GetSpotPlacementScoresCommand({
              InstanceTypes: types,
              TargetCapacity: 1,
              SingleAvailabilityZone: true,
              RegionNames: [await this.client.config.region()],
            }),
            this.call,
          ),
          this.#zoneNames(),
        ]);
        for (const s of answer.SpotPlacementScores ?? []) {
          const zone = names.get(s.AvailabilityZoneId ?? '');
          if (!zone || s.Score === undefined || !zones.includes(zone)) continue;
          for (const instanceType of types)
            scores.set(poolKey({ instanceType, availabilityZone: zone }), s.Score);
        }
      } catch (error) {
        if (!DENIED.has(errorCode(error) ?? '')) throw error;
      }
      return scores;
    });
  }

  spotPrices(instanceTypes: readonly string[], zones: readonly string[]): Promise<Map<PoolKey, number>> {
    const types = [...new Set(instanceTypes)].sort();
    return this.#cached(`prices|${types.join(',')}`, this.#cacheMs, async () => {
      const history = await allPages(async (NextToken) => {
        const page = await this.client.send(
          new DescribeSpotPriceHistoryCommand({
            InstanceTypes: types as _InstanceType[],
            ProductDescriptions: ['Linux/UNIX'],
            StartTime: this.#clock.now(),
            NextToken,
          }),
          this.call,
        );
        return { items: page.SpotPriceHistory, nextToken: page.NextToken };
      });
      const prices = new Map<PoolKey, { price: number; at: number }>();
      for (const h of history) {
        if (!h.InstanceType || !h.AvailabilityZone || !h.SpotPrice || !zones.includes(h.AvailabilityZone))
          continue;
        const key = poolKey({ instanceType: h.InstanceType, availabilityZone: h.AvailabilityZone });
        const at = h.Timestamp?.getTime() ?? 0;
        if ((prices.get(key)?.at ?? -1) < at) prices.set(key, { price: Number(h.SpotPrice), at });
      }
      return new Map([...prices].map(([key, { price }]) => [key, price]));
    });
  }

  #zoneNames(): Promise<Map<string, string>> {
    return this.#cached('zones', 24 * 60 * 60_000, async () => {
      const { AvailabilityZones = [] } = await this.client.send(
        new DescribeAvailabilityZonesCommand({}),
        this.call,
      );
      return new Map(AvailabilityZones.map((z) => [z.ZoneId ?? '', z.ZoneName ?? '']));
    });
  }
}
