import {
  DeregisterTargetsCommand,
  DescribeTargetGroupsCommand,
  DescribeTargetHealthCommand,
  type ElasticLoadBalancingV2Client,
  RegisterTargetsCommand,
  type TargetDescription,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import {
  type ElbCallCount,
  type InstanceFacts,
  type LoadBalancing,
  type Target,
  type TargetGroupHealth,
  type TargetHealthState,
  type TargetType,
  targetKey,
} from '../core/ports.ts';
import { inBatches, mapConcurrently } from './batching.ts';
import type { PlanLog } from './dry-run.ts';
import { isInvalidTarget, isTargetGroupNotFound } from './errors.ts';

/** Largest page `DescribeTargetGroups` returns. */
const TARGET_GROUP_PAGE_SIZE = 400;
/** Targets per `RegisterTargets` / `DeregisterTargets` call. */
export const TARGETS_PER_CALL = 200;
/** ELB calls in flight at once, per operation. */
export const ELB_CONCURRENCY = 5;
const DEFAULT_TARGET_GROUP_CACHE_MS = 60_000;

export interface Elbv2LoadBalancingOptions {
  /** One client per container, built at cold start. The target group list is cached per client. */
  client: ElasticLoadBalancingV2Client;
  /** Record registrations and deregistrations in the plan instead of making them (ELBv2 has no DryRun). Reads are real. */
  dryRun?: boolean;
  plan?: PlanLog;
  /** How long the list of target groups is reused; default 60 s. 0 lists them on every `findTargets`. */
  targetGroupCacheMs?: number;
  /** Epoch milliseconds, for the cache; default `Date.now`. */
  clock?: () => number;
  /** Aborts calls in flight, e.g. shortly before the Lambda timeout. */
  abortSignal?: AbortSignal;
}

interface ListedTargetGroup {
  arn: string;
  targetType: TargetType;
  vpcId: string;
  port?: number;
}

interface TargetGroupList {
  listedAt: number;
  groups: Promise<ListedTargetGroup[]>;
}

/**
 * Target groups of type `instance` or `ip`, per client: a client lives as long as its container, so
 * the list is shared by every invocation the container serves.
 */
const targetGroupLists = new WeakMap<ElasticLoadBalancingV2Client, TargetGroupList>();

type ChangeAction = 'RegisterTargets' | 'DeregisterTargets';

/**
 * {@link LoadBalancing} over the ELBv2 API. Finding targets costs one `DescribeTargetHealth` per
 * target group in the instances' VPCs (plus the target group list when the cache is cold), however
 * many instances are asked about.
 * @example
 * const lb = new Elbv2LoadBalancing({ client: clients.elbv2 });
 * const { byInstance } = await lb.findTargets([facts]);
 * await lb.deregister(byInstance.get(facts.instanceId) ?? []);
 */
export class Elbv2LoadBalancing implements LoadBalancing {
  readonly #client: ElasticLoadBalancingV2Client;
  readonly #dryRun: boolean;
  readonly #plan: PlanLog | undefined;
  readonly #cacheMs: number;
  readonly #clock: () => number;
  readonly #abortSignal: AbortSignal | undefined;

  constructor(options: Elbv2LoadBalancingOptions) {
    this.#client = options.client;
    this.#dryRun = options.dryRun ?? false;
    this.#plan = options.plan;
    this.#cacheMs = options.targetGroupCacheMs ?? DEFAULT_TARGET_GROUP_CACHE_MS;
    this.#clock = options.clock ?? Date.now;
    this.#abortSignal = options.abortSignal;
  }

  /**
   * Every registration of the instances (including `draining` ones) in the `instance` and `ip`
   * target groups of their VPCs. An instance without a VPC id is matched nowhere. Every instance
   * asked about has an entry in `byInstance`, empty when it is registered nowhere; `targetGroups`
   * names the groups looked in.
   */
  async findTargets(
    instances: readonly InstanceFacts[],
  ): Promise<{ byInstance: Map<string, Target[]>; targetGroups: string[] } & ElbCallCount> {
    const byInstance = new Map<string, Target[]>(instances.map((instance) => [instance.instanceId, []]));
    const vpcs = new Set(instances.flatMap((instance) => (instance.vpcId ? [instance.vpcId] : [])));
    if (vpcs.size === 0) return { byInstance, targetGroups: [], calls: 0 };

    const ownerOfIp = new Map<string, string>();
    for (const instance of instances) {
      if (!instance.vpcId) continue;
      for (const ip of privateIpsOf(instance)) ownerOfIp.set(ipKey(instance.vpcId, ip), instance.instanceId);
    }

    const listing = await this.#targetGroups();
    const groups = listing.groups.filter((group) => vpcs.has(group.vpcId));
    const found = await mapConcurrently(groups, ELB_CONCURRENCY, async (group) => {
      const registrations = await this.#registrations(group);
      const matches: Array<{ instanceId: string; target: Target }> = [];
      for (const target of registrations ?? []) {
        const instanceId =
          group.targetType === 'instance'
            ? byInstance.has(target.id)
              ? target.id
              : undefined
            : ownerOfIp.get(ipKey(group.vpcId, target.id));
        if (instanceId !== undefined) matches.push({ instanceId, target });
      }
      return matches;
    });
    for (const { instanceId, target } of found.flat()) byInstance.get(instanceId)?.push(target);
    return { byInstance, targetGroups: groups.map((g) => g.arn), calls: listing.calls + groups.length };
  }

  /**
   * One call per target group and 200 targets. A target group deleted meanwhile, or a target that
   * is no longer valid (a terminated instance), counts as deregistered.
   */
  async deregister(targets: readonly Target[]): Promise<ElbCallCount> {
    return this.#change('DeregisterTargets', targets);
  }

  /** One call per target group and 200 targets. Registering a registered target is a no-op for ELBv2. */
  async register(targets: readonly Target[]): Promise<ElbCallCount> {
    return this.#change('RegisterTargets', targets);
  }

  async #change(action: ChangeAction, targets: readonly Target[]): Promise<ElbCallCount> {
    const requests = byTargetGroup(targets).flatMap(([targetGroupArn, group]) =>
      inBatches(group, TARGETS_PER_CALL).map((batch) => ({
        targetGroupArn,
        targets: batch.map(toDescription),
      })),
    );
    if (this.#dryRun) {
      for (const request of requests) {
        this.#plan?.record({
          service: 'elbv2',
          action,
          params: { TargetGroupArn: request.targetGroupArn, Targets: request.targets },
          outcome: 'skipped',
        });
      }
      return { calls: 0 };
    }
    const calls = await mapConcurrently(requests, ELB_CONCURRENCY, (request) =>
      action === 'RegisterTargets'
        ? this.#send(action, request.targetGroupArn, request.targets).then(() => 1)
        : this.#deregisterBatch(request.targetGroupArn, request.targets),
    );
    return { calls: calls.reduce((sum, count) => sum + count, 0) };
  }

  /**
   * ELBv2 refuses a whole batch when one target in it is invalid (e.g. an instance that is gone);
   * the batch is then retried target by target so the valid ones are still deregistered.
   * Returns the number of calls made.
   */
  async #deregisterBatch(targetGroupArn: string, targets: TargetDescription[]): Promise<number> {
    try {
      await this.#send('DeregisterTargets', targetGroupArn, targets);
      return 1;
    } catch (error) {
      if (isTargetGroupNotFound(error)) return 1;
      if (!isInvalidTarget(error)) throw error;
      if (targets.length === 1) return 1;
    }
    let calls = 1;
    for (const target of targets) {
      calls += 1;
      try {
        await this.#send('DeregisterTargets', targetGroupArn, [target]);
      } catch (error) {
        if (isTargetGroupNotFound(error)) return calls;
        if (!isInvalidTarget(error)) throw error;
      }
    }
    return calls;
  }

  async #send(action: ChangeAction, targetGroupArn: string, targets: TargetDescription[]): Promise<void> {
    const input = { TargetGroupArn: targetGroupArn, Targets: targets };
    const command =
      action === 'RegisterTargets' ? new RegisterTargetsCommand(input) : new DeregisterTargetsCommand(input);
    await this.#client.send(command, { abortSignal: this.#abortSignal });
  }

  /**
   * The health of the given targets, one `DescribeTargetHealth` per target group (reads are real in
   * a dry run too). A target its group no longer knows reports `unused`.
   */
  async targetHealth(
    targets: readonly Target[],
  ): Promise<{ health: Map<string, TargetHealthState> } & ElbCallCount> {
    const health = new Map<string, TargetHealthState>();
    const groups = byTargetGroup(targets);
    await mapConcurrently(groups, ELB_CONCURRENCY, async ([arn, members]) => {
      const described = await this.#describeHealth(
        { arn, targetType: members[0]!.targetType },
        members.map(toDescription),
      );
      for (const target of described ?? []) health.set(targetKey(target), target.state);
    });
    return { health, calls: groups.length };
  }

  /** The target group whose ARN ends in `suffix` (`targetgroup/<name>/<id>`), with its targets' health. */
  async targetGroupHealth(suffix: string): Promise<TargetGroupHealth | undefined> {
    const { groups } = await this.#targetGroups();
    const group = groups.find((g) => g.arn.endsWith(`:${suffix}`));
    if (!group) return undefined;
    const described = await this.#describeHealth(group);
    if (!described) return undefined;
    return {
      targetGroupArn: group.arn,
      targetType: group.targetType,
      targets: described.map(({ id, port, state }) => ({ id, port, state })),
    };
  }

  /** Registrations of one target group, or undefined when it was deleted meanwhile. */
  async #registrations(group: ListedTargetGroup): Promise<Target[] | undefined> {
    return (await this.#describeHealth(group))?.map(({ state: _state, ...target }) => target);
  }

  /** `DescribeTargetHealth` of a group (all its targets, or the given ones); undefined when it was deleted. */
  async #describeHealth(
    group: Pick<ListedTargetGroup, 'arn' | 'targetType' | 'port'>,
    targets?: TargetDescription[],
  ): Promise<(Target & { state: TargetHealthState })[] | undefined> {
    try {
      const output = await this.#client.send(
        new DescribeTargetHealthCommand({ TargetGroupArn: group.arn, Targets: targets }),
        { abortSignal: this.#abortSignal },
      );
      const described: (Target & { state: TargetHealthState })[] = [];
      for (const description of output.TargetHealthDescriptions ?? []) {
        const id = description.Target?.Id;
        const port = description.Target?.Port ?? group.port;
        if (id === undefined || port === undefined) continue;
        const availabilityZone = description.Target?.AvailabilityZone;
        described.push({
          targetGroupArn: group.arn,
          targetType: group.targetType,
          id,
          port,
          ...(availabilityZone ? { availabilityZone } : {}),
          state: (description.TargetHealth?.State ?? 'unused') as TargetHealthState,
        });
      }
      return described;
    } catch (error) {
      if (!isTargetGroupNotFound(error)) throw error;
      this.#forget(group.arn);
      return undefined;
    }
  }

  /** The cached list when it is fresh enough, else a new listing (whose calls are counted). */
  async #targetGroups(): Promise<{ groups: ListedTargetGroup[]; calls: number }> {
    const now = this.#clock();
    const cached = targetGroupLists.get(this.#client);
    if (cached !== undefined && now - cached.listedAt < this.#cacheMs)
      return { groups: await cached.groups, calls: 0 };

    const listing = this.#listTargetGroups();
    const entry: TargetGroupList = { listedAt: now, groups: listing.then((result) => result.groups) };
    // Whoever awaits `listing` sees a failure; the shared copy must not raise an unhandled rejection.
    entry.groups.catch(() => undefined);
    targetGroupLists.set(this.#client, entry);
    try {
      return await listing;
    } catch (error) {
      if (targetGroupLists.get(this.#client) === entry) targetGroupLists.delete(this.#client);
      throw error;
    }
  }

  async #listTargetGroups(): Promise<{ groups: ListedTargetGroup[]; calls: number }> {
    const groups: ListedTargetGroup[] = [];
    let calls = 0;
    let marker: string | undefined;
    do {
      const page = await this.#client.send(
        new DescribeTargetGroupsCommand({ PageSize: TARGET_GROUP_PAGE_SIZE, Marker: marker }),
        { abortSignal: this.#abortSignal },
      );
      calls += 1;
      for (const group of page.TargetGroups ?? []) {
        const targetType = group.TargetType;
        if (group.TargetGroupArn === undefined || group.VpcId === undefined) continue;
        if (targetType !== 'instance' && targetType !== 'ip') continue;
        groups.push({
          arn: group.TargetGroupArn,
          targetType,
          vpcId: group.VpcId,
          ...(group.Port !== undefined ? { port: group.Port } : {}),
        });
      }
      marker = page.NextMarker || undefined;
    } while (marker !== undefined);
    return { groups, calls };
  }

  /** Drops a deleted target group from the cached list. */
  #forget(targetGroupArn: string): void {
    const cached = targetGroupLists.get(this.#client);
    if (cached === undefined) return;
    cached.groups = cached.groups.then((groups) => groups.filter((group) => group.arn !== targetGroupArn));
    cached.groups.catch(() => undefined);
  }
}

function ipKey(vpcId: string, ip: string): string {
  return `${vpcId} ${ip}`;
}

function privateIpsOf(instance: InstanceFacts): Set<string> {
  const ips = new Set<string>();
  if (instance.privateIpAddress) ips.add(instance.privateIpAddress);
  for (const networkInterface of instance.networkInterfaces) {
    for (const address of networkInterface.privateIps) ips.add(address.privateIpAddress);
  }
  return ips;
}

/** Targets grouped by target group, duplicates dropped, in the order first seen. */
function byTargetGroup(targets: readonly Target[]): Array<[string, Target[]]> {
  const groups = new Map<string, Map<string, Target>>();
  for (const target of targets) {
    let group = groups.get(target.targetGroupArn);
    if (group === undefined) {
      group = new Map();
      groups.set(target.targetGroupArn, group);
    }
    group.set(`${target.id} ${target.port} ${target.availabilityZone ?? ''}`, target);
  }
  return [...groups].map(([arn, group]) => [arn, [...group.values()]]);
}

function toDescription(target: Target): TargetDescription {
  return {
    Id: target.id,
    Port: target.port,
    ...(target.availabilityZone ? { AvailabilityZone: target.availabilityZone } : {}),
  };
}
