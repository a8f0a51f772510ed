import { createHash } from 'node:crypto';
import {
  assignmentOrder,
  type CapacityChoice,
  type CapacityRecord,
  chooseCapacity,
  describeLaunches,
  type FleetStage,
  overridesOf,
} from './capacity.ts';
import type { FleetInstance, FleetOverride, FleetResult, PoolFacts } from './facts.ts';
import type { GroupPolicy } from './policy.ts';
import { lookbackMs, poolStandings, recentCounts } from './pool-reclaim.ts';
import { type HandoffDeps, poolKey } from './ports.ts';
import type { Workflow } from './workflow.ts';

/**
 * The launches a batch's workflows need, coalesced per group: when EC2 reclaims a pool, its
 * siblings' warnings arrive together, and their replacements go out in at most three `CreateFleet`
 * requests of type `instant` per group (like `batched-load-balancing.ts` for the load balancer):
 *   1. On-Demand on the pools unused Reserved Instances cover, and Spot over the ranked pools;
 *   2. Spot again, for what is still short, over the pools that did not fail;
 *   3. On-Demand over the allowed pools, if the policy falls back to it.
 * Before the first request every member records the fleet (its token and members); the
 * instances are handed to the members in {@link assignmentOrder}, so a retry claims the same one.
 */

/** A workflow waiting for its replacement from a group's fleet. */
export interface FleetMember {
  workflow: Workflow;
  /** Saves the workflow (conditional write); false when a concurrent writer won. */
  save(): Promise<boolean>;
}

/** What a member got: its instance and why it was chosen, or why there was none. */
export type FleetShare =
  | { ok: true; instance: FleetInstance; record: CapacityRecord }
  | { ok: false; code: string; message: string };

/** The group a coalesced fleet is for: instances of one group, launch template and (stateful) AZ. */
export interface FleetGroup {
  name: string;
  policy: GroupPolicy;
  launchTemplate: { id: string; version: string };
  vpcId: string;
  /** Stateful members stay in their volumes' AZ. */
  availabilityZone?: string;
  /** A launch bound to one subnet (a kept primary IP) stays in it. */
  subnetId?: string;
  /** Reverts to Spot: no RI, no On-Demand (a fleet of their own). */
  spotOnly?: boolean;
}

export const fleetKey = (group: FleetGroup): string =>
  [
    group.name,
    group.launchTemplate.id,
    group.launchTemplate.version,
    group.availabilityZone ?? '',
    group.spotOnly ? 'spot-only' : '',
  ].join('|');

/** The token of a group's fleet: the same group and members (at their attempts) give the same token. */
export function fleetToken(group: string, members: readonly Workflow[]): string {
  const ids = members.map((m) => `${m.workflowId}:${m.replacement?.attempt ?? 1}`).sort();
  return `fleet-${createHash('sha256')
    .update(JSON.stringify([group, ids]))
    .digest('hex')
    .slice(0, 24)}`;
}

interface Pending {
  members: FleetMember[];
  /** Sends the fleet (once). */
  go(): void;
  done: Promise<Map<string, FleetShare>>;
}

export class GroupFleets {
  private readonly pending = new Map<string, Pending>();
  /** The batch's workflows that are running a pass and might still join a fleet. */
  private working = 0;
  /** Fleet requests sent, per group (for the record and the benchmark). */
  readonly requests = new Map<string, number>();

  constructor(
    private readonly deps: HandoffDeps,
    /** A fleet goes out at the latest this long after its first member joined. */
    private readonly maxWaitMs = 10_000,
  ) {}

  /** A workflow of the batch starts a pass: fleets wait for it to join or finish. */
  started(): void {
    this.working += 1;
  }

  /** A workflow of the batch finished its pass. */
  finished(): void {
    this.working -= 1;
    this.goIfAllWaiting();
  }

  /** Every running workflow waits in a fleet (or none runs): the fleets go. */
  private goIfAllWaiting(): void {
    if (this.working > 0) return;
    for (const batch of this.pending.values()) batch.go();
  }

  /**
   * Joins the group's fleet of this batch; resolves with this member's share once the fleet has
   * run. A fleet goes out when every workflow of the batch still running waits in a fleet, so the
   * batch's launches of one group go out together, or `maxWaitMs` after its first member joined.
   */
  async join(group: FleetGroup, member: FleetMember): Promise<FleetShare> {
    const key = fleetKey(group);
    let batch = this.pending.get(key);
    if (!batch) {
      const members: FleetMember[] = [];
      let release: () => void = () => {};
      const ready = new Promise<void>((resolve) => {
        release = resolve;
      });
      const timer = setTimeout(() => created.go(), this.maxWaitMs);
      const created: Pending = {
        members,
        go: () => {
          clearTimeout(timer);
          if (this.pending.get(key) === created) this.pending.delete(key);
          release();
        },
        done: ready.then(() => this.run(group, members)),
      };
      batch = created;
      this.pending.set(key, batch);
    }
    batch.members.push(member);
    this.working -= 1;
    this.goIfAllWaiting();
    try {
      const shares = await batch.done;
      return shares.get(member.workflow.workflowId)!;
    } finally {
      this.working += 1;
    }
  }

  private async run(group: FleetGroup, joined: FleetMember[]): Promise<Map<string, FleetShare>> {
    const { deps } = this;
    const members = [...joined].sort((a, b) => (a.workflow.workflowId < b.workflow.workflowId ? -1 : 1));
    const workflows = members.map((m) => m.workflow);
    const token = fleetToken(group.name, workflows);
    const ids = workflows.map((w) => w.workflowId);
    const requestedAt = deps.clock.now().toISOString();
    // The record first: a crash after the request leaves each member knowing its fleet.
    for (const w of workflows) w.replacement!.fleet = { token, members: ids, requestedAt };
    const saved = await Promise.all(members.map((m) => m.save()));
    const shares = new Map<string, FleetShare>();
    if (!saved.some(Boolean)) {
      for (const id of ids) shares.set(id, { ok: false, code: 'WriteConflict', message: 'record changed' });
      return shares;
    }
    const choice = await chooseForGroup(deps, group, workflows);
    // Tags go on at launch (afterwards the role may write only its bookkeeping keys): those every
    // member's old instance carries alike, then the fleet's own.
    const tags = {
      ...commonTags(workflows.map((w) => w.instance?.tags ?? {})),
      [deps.settings.tags.managed]: 'true',
      ...(deps.settings.groupTagKey ? { [deps.settings.groupTagKey]: group.name } : {}),
      [deps.settings.tags.fleetToken]: token,
    };
    const launched: (FleetInstance & { stage: FleetStage })[] = [];
    const failed = new Set<string>();
    const send = async (stage: FleetStage, n: number, overrides: FleetOverride[], onDemand: number) => {
      if (n < 1 || overrides.length === 0) return;
      this.requests.set(group.name, (this.requests.get(group.name) ?? 0) + 1);
      const result: FleetResult = await deps.compute.launchFleet({
        clientToken: `${token}-${stage}`,
        launchTemplate: group.launchTemplate,
        overrides,
        total: n,
        onDemand,
        spotStrategy: group.policy.spotAllocationStrategy,
        onDemandStrategy: 'prioritized',
        tags,
      });
      launched.push(...result.instances.map((i) => ({ ...i, stage })));
      for (const e of result.errors) {
        if (e.lifecycle === 'spot' && e.instanceType && e.subnetId)
          failed.add(`${e.instanceType}|${e.subnetId}`);
      }
      lastError = result.errors.at(-1) ?? lastError;
    };
    let lastError: { code: string; message: string } | undefined;
    const n = members.length;
    const reservedCount = Math.min(
      n,
      choice.reserved.reduce((sum, r) => sum + r.unused, 0),
    );
    await send('first', n, overridesOf(unique([...choice.reserved, ...choice.spot])), reservedCount);
    const notFailed = choice.spot.filter((p) => !failed.has(`${p.instanceType}|${p.subnetId}`));
    const tried = new Set(launched.map((i) => `${i.instanceType}|${i.subnetId}`));
    await send(
      'spot-retry',
      n - launched.length,
      overridesOf(
        notFailed
          .filter((p) => !tried.has(`${p.instanceType}|${p.subnetId}`))
          .concat(notFailed.filter((p) => tried.has(`${p.instanceType}|${p.subnetId}`))),
      ),
      0,
    );
    if (group.policy.onDemandFallback) {
      const short = n - launched.length;
      await send('on-demand-fallback', short, overridesOf(choice.onDemand), short);
    }
    const records = describeLaunches(launched, choice, failed.size);
    for (const ri of choice.reserved) {
      const covered = launched.filter(
        (i) => poolKey(i) === poolKey(ri) && records.get(i.instanceId)?.capacityType === 'reserved',
      ).length;
      if (covered > 0) deps.capacity?.reservationsUsed?.(ri.reservedInstancesId, covered);
    }
    const ordered = assignmentOrder(launched);
    members.forEach((m, i) => {
      const instance = ordered[i];
      const id = m.workflow.workflowId;
      if (instance) shares.set(id, { ok: true, instance, record: records.get(instance.instanceId)! });
      else
        shares.set(id, {
          ok: false,
          code: lastError?.code ?? 'InsufficientInstanceCapacity',
          message: `${notLaunched(group, n - launched.length, n, choice, failed.size)}${lastError ? ` (last error: ${lastError.message})` : ''}`,
        });
    });
    return shares;
  }
}

/**
 * Why a fleet's members got no instance. A revert to Spot asks for Spot only, whatever the
 * group's On-Demand fallback: its On-Demand instance keeps serving and the next sweep asks again.
 */
function notLaunched(
  group: FleetGroup,
  short: number,
  n: number,
  choice: CapacityChoice,
  failedSpotPools: number,
): string {
  const what = group.spotOnly ? 'reverts to Spot' : 'replacements';
  const why =
    choice.spot.length + choice.reserved.length === 0
      ? 'no allowed pool outside the pools being reclaimed or avoided'
      : group.spotOnly
        ? `${failedSpotPools} Spot pools had no capacity yet (a revert launches Spot only); the On-Demand instances keep serving and the next sweep tries again`
        : `${failedSpotPools} Spot pools had no capacity${group.policy.onDemandFallback ? ', nor On-Demand' : ' and the policy has no On-Demand fallback'}`;
  return `${short} of ${n} ${what} of group ${group.name} not launched: ${why}`;
}

/**
 * The group's allowed pools, ranked from what EC2 and the pool memory say (a signal that fails
 * counts as unknown): its instance types — listed, or EC2's expansion of its attribute
 * requirements, or else the old instances' own — × its subnets (in the group's AZ or subnet when
 * the launch is bound to one). The old instances' pools are the ones being reclaimed.
 */
export async function chooseForGroup(
  deps: HandoffDeps,
  group: Pick<FleetGroup, 'name' | 'policy' | 'vpcId' | 'availabilityZone' | 'subnetId'>,
  workflows: readonly Workflow[],
): Promise<CapacityChoice> {
  const { policy } = group;
  const subnets = (await deps.stateful.subnetsOf(group.vpcId)).filter(
    (s) =>
      (policy.subnets === undefined ||
        policy.subnets.includes(s.subnetId) ||
        s.subnetId === group.subnetId) &&
      (group.availabilityZone === undefined || s.availabilityZone === group.availabilityZone) &&
      (group.subnetId === undefined || s.subnetId === group.subnetId),
  );
  const types = await allowedTypes(deps, group, workflows);
  const zones = [...new Set(subnets.map((s) => s.availabilityZone))];
  const pools: PoolFacts[] = types.flatMap((instanceType) =>
    subnets.map((s) => ({ instanceType, availabilityZone: s.availabilityZone, subnetId: s.subnetId })),
  );
  const reclaimed = workflows.map((w) => ({
    instanceType: w.instance!.instanceType,
    availabilityZone: w.instance!.availabilityZone,
  }));
  const unknown =
    <T>(fallback: T) =>
    (error: unknown) => {
      deps.log.warn(`A capacity signal could not be read; ranking without it: ${String(error)}`);
      return fallback;
    };
  const signals = deps.capacity;
  const now = deps.clock.now();
  const since = new Date(now.getTime() - lookbackMs(policy.poolReclaim));
  const [reservations, placementScores, spotPrices, history] = await Promise.all([
    signals?.unusedReservations().catch(unknown([])) ?? [],
    signals?.placementScores(types, zones).catch(unknown(new Map())) ?? new Map(),
    signals?.spotPrices(types, zones).catch(unknown(new Map())) ?? new Map(),
    deps.poolMemory?.interruptionsSince(since, now).catch(unknown(new Map())) ?? new Map(),
  ]);
  const standings = poolStandings(history, policy.poolReclaim, now);
  return chooseCapacity(policy, {
    pools,
    reclaimed,
    reservations,
    placementScores,
    spotPrices,
    interruptions: recentCounts(standings),
    avoided: new Map([...standings].flatMap(([key, s]) => (s.avoided ? [[key, s.avoided] as const] : []))),
    onDemandPrices: policy.onDemandPrices ?? {},
  });
}

/**
 * A group's instance types: those it lists; or those EC2 says meet its attribute requirements (a
 * failed read throws, so the launch is retried); or, with neither, the old instances' own.
 */
async function allowedTypes(
  deps: HandoffDeps,
  group: Pick<FleetGroup, 'name' | 'policy'>,
  workflows: readonly Workflow[],
): Promise<string[]> {
  const { instanceTypes, instanceRequirements } = group.policy;
  if (instanceTypes) return instanceTypes.map((t) => t.type);
  if (instanceRequirements && deps.capacity) {
    const types = await deps.capacity.instanceTypesFor(instanceRequirements);
    if (types.length === 0)
      deps.log.warn(
        `The instanceRequirements of group ${group.name} match no instance type EC2 offers in this Region: widen them in policy.yml.`,
        { group: group.name },
      );
    return types;
  }
  return [...new Set(workflows.map((w) => w.instance!.instanceType))];
}

function unique<T extends PoolFacts>(pools: readonly T[]): T[] {
  const seen = new Set<string>();
  return pools.filter((p) => {
    const key = `${poolKey(p)}|${p.subnetId}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** The tags (key and value) every one of the given sets carries. */
export function commonTags(sets: readonly Record<string, string>[]): Record<string, string> {
  const [first, ...rest] = sets;
  return Object.fromEntries(
    Object.entries(first ?? {}).filter(([key, value]) => rest.every((tags) => tags[key] === value)),
  );
}
