import {
  type _InstanceType,
  DescribeAvailabilityZonesCommand,
  DescribeInstancesCommand,
  DescribeReservedInstancesCommand,
  DescribeSpotPriceHistoryCommand,
  GetInstanceTypesFromInstanceRequirementsCommand,
  GetSpotPlacementScoresCommand,
} from '@aws-sdk/client-ec2';
import type { InstanceRequirements } from '../core/policy.ts';
import type { CapacitySignals, Clock, PoolKey, UnusedReservation } from '../core/ports.ts';
import { poolKey } from '../core/ports.ts';
import { allPages, Ec2Adapter, type Ec2AdapterOptions } from './ec2-base.ts';
import { errorCode } from './errors.ts';

export interface Ec2CapacitySignalsOptions extends Ec2AdapterOptions {
  clock: Clock;
  /** How long an answer is reused (default 5 minutes; placement scores 1 hour: AWS limits new queries per day). */
  cacheMs?: number;
  /** How long the instance types matching a group's requirements are reused before a refresh (default 1 hour). */
  instanceTypesCacheMs?: number;
  /** The container's memory of answers (default: one for this adapter alone). */
  cache?: CapacitySignalCache;
}

/**
 * What the capacity signals remember for the container's life: the adapters of successive
 * invocations share it (`src/runtime/container.ts`), so a burst of batches asks EC2 once.
 */
export class CapacitySignalCache {
  readonly answers = new Map<string, CachedAnswer>();
  /** RI-covered launches since the reservations were last read, by ReservedInstancesId. */
  readonly reservationsUsed = new Map<string, number>();
}

interface CachedAnswer {
  at: number;
  value: Promise<unknown>;
  /** The answer arrived (a stale one can be served while it is read afresh). */
  settled?: boolean;
  refreshing?: boolean;
}

/** Errors that mean the account may not ask: the signal is unknown, not a failure. */
const DENIED = new Set(['UnauthorizedOperation', 'AccessDenied', 'AccessDeniedException', 'OptInRequired']);

/**
 * {@link CapacitySignals} over EC2: `DescribeReservedInstances` against the running On-Demand
 * instances, `GetSpotPlacementScores` per AZ (denied: unknown), `DescribeSpotPriceHistory`,
 * `GetInstanceTypesFromInstanceRequirements`. Every answer is cached for the container's life up
 * to its TTL, so a burst of batches asks once; stale instance types are served while they are read
 * afresh in the background.
 */
export class Ec2CapacitySignals extends Ec2Adapter implements CapacitySignals {
  readonly #cache: Map<string, CachedAnswer>;
  readonly #reservationsUsed: Map<string, number>;
  readonly #clock: Clock;
  readonly #cacheMs: number;
  readonly #instanceTypesCacheMs: number;

  constructor(options: Ec2CapacitySignalsOptions) {
    super(options);
    const cache = options.cache ?? new CapacitySignalCache();
    this.#cache = cache.answers;
    this.#reservationsUsed = cache.reservationsUsed;
    this.#clock = options.clock;
    this.#cacheMs = options.cacheMs ?? 5 * 60_000;
    this.#instanceTypesCacheMs = options.instanceTypesCacheMs ?? 60 * 60_000;
  }

  /**
   * The answer under `key`, read when missing or older than `ttlMs`. With `serveStale`, an old
   * answer that arrived is returned at once and read afresh in the background (a failed refresh
   * keeps it, and the next call tries again).
   */
  #cached<T>(key: string, ttlMs: number, read: () => Promise<T>, { serveStale = false } = {}): Promise<T> {
    const now = this.#clock.now().getTime();
    const hit = this.#cache.get(key);
    if (hit && now - hit.at < ttlMs) return hit.value as Promise<T>;
    if (hit?.settled && serveStale) {
      if (!hit.refreshing) {
        hit.refreshing = true;
        read().then(
          (fresh) => this.#cache.set(key, { at: now, value: Promise.resolve(fresh), settled: true }),
          () => {
            hit.refreshing = false;
          },
        );
      }
      return hit.value as Promise<T>;
    }
    const value = read();
    const entry: CachedAnswer = { at: now, value };
    this.#cache.set(key, entry);
    value.then(
      () => {
        entry.settled = true;
      },
      () => {
        if (this.#cache.get(key) === entry) this.#cache.delete(key);
      },
    );
    return value;
  }

  reservationsUsed(reservedInstancesId: string, count: number): void {
    this.#reservationsUsed.set(
      reservedInstancesId,
      (this.#reservationsUsed.get(reservedInstancesId) ?? 0) + count,
    );
  }

  async unusedReservations(): Promise<UnusedReservation[]> {
    const read = await this.#readReservations();
    return read
      .map((r) => ({ ...r, unused: r.unused - (this.#reservationsUsed.get(r.reservedInstancesId) ?? 0) }))
      .filter((r) => r.unused > 0);
  }

  #readReservations(): Promise<UnusedReservation[]> {
    return this.#cached('reservations', this.#cacheMs, async () => {
      // A fresh read sees the instances launched on RIs running: nothing to count against it.
      this.#reservationsUsed.clear();
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

  instanceTypesFor(requirements: InstanceRequirements): Promise<string[]> {
    const { vCpu, memoryMiB, architecture, allowedFamilies, excludedFamilies } = requirements;
    const range = (r: { min: number; max?: number | undefined }) => ({
      Min: r.min,
      ...(r.max === undefined ? {} : { Max: r.max }),
    });
    const typesOf = (families: readonly string[]) => families.map((family) => `${family}.*`);
    const input = {
      ArchitectureTypes: [architecture],
      VirtualizationTypes: ['hvm' as const],
      InstanceRequirements: {
        VCpuCount: range(vCpu),
        MemoryMiB: range(memoryMiB),
        ...(allowedFamilies ? { AllowedInstanceTypes: typesOf(allowedFamilies) } : {}),
        ...(excludedFamilies ? { ExcludedInstanceTypes: typesOf(excludedFamilies) } : {}),
      },
    };
    return this.#cached(
      `types|${JSON.stringify(input)}`,
      this.#instanceTypesCacheMs,
      async () => {
        const found = await allPages(async (NextToken) => {
          const page = await this.client.send(
            new GetInstanceTypesFromInstanceRequirementsCommand({ ...input, NextToken }),
            this.call,
          );
          return { items: page.InstanceTypes, nextToken: page.NextToken };
        });
        return [...new Set(found.flatMap((t) => (t.InstanceType ? [t.InstanceType] : [])))].sort();
      },
      { serveStale: true },
    );
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
