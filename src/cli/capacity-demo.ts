import {
  CAPACITY_GROUP,
  CAPACITY_POLICY,
  type CapacityScenario,
  createCapacityFleet,
  type PoolName,
  reclaimPool,
  SPOT_ROOM_PER_POOL,
  samePool,
  spotReturns,
  spotRoom,
} from '../../localcloud/scenarios/capacity.ts';
import { registerFleet } from '../../localcloud/scenarios/web-fleet.ts';
import { parsePolicy } from '../core/policy.ts';
import type { Workflow } from '../core/workflow.ts';
import {
  type CapacityLine,
  type CapacityReport,
  capacityReport,
  formatCapacityReport,
} from './capacity-report.ts';
import { cloudClients, type LocalStack, runUntil, startLocalStack } from './local-stack.ts';

/**
 * `handoff demo --scenario capacity`: a whole Spot pool is reclaimed at once and has no capacity
 * left; the replacements go where the capacity is (an unused Reserved Instance, other Spot pools,
 * On-Demand once every allowed Spot pool is exhausted), then Spot capacity returns and the
 * On-Demand fallbacks revert to Spot. Each choice is printed with its reason, at the time its
 * workflow recorded it.
 */

export interface CapacityDemoOptions {
  speed: number | 'manual';
  print: (line: string) => void;
}

export interface CapacityChecks {
  /** No replacement (interruption or revert) runs in the reclaimed pool, as EC2 says. */
  noneInReclaimedPool: boolean;
  /** Replacements on the unused Reserved Instance: On-Demand of its type in its AZ. */
  onReservedInstance: number;
  /** Free Spot slots of every other allowed pool when the On-Demand fallbacks launched (all 0). */
  spotRoomAtFallback: { pool: PoolName; free: number }[];
  /** Fallbacks launched On-Demand, and whether that happened only once every allowed Spot pool was exhausted. */
  onDemandFallbacks: number;
  onDemandOnlyAfterSpotExhausted: boolean;
  /** Every fallback was replaced by Spot (a `revert-to-spot` workflow completed) and terminated. */
  revertedToSpot: boolean;
  reverted: {
    fallbackId: string;
    workflowId: string;
    replacementId?: string;
    capacityType?: string;
    fallbackState?: string;
  }[];
}

/** A workflow of the demo, with when its replacement was chosen. */
export type CapacityDemoWorkflow = CapacityLine & {
  /** Seconds after EC2's warnings when the replacement's capacity was chosen (its fleet request, or its own launch). */
  chosenAfterSeconds?: number;
  /** An interruption: seconds after the warnings when EC2 began terminating the old instance. */
  oldInstanceReclaimedAfterSeconds?: number;
};

/** A revert to Spot that found no Spot capacity (the first such attempt of each workflow). */
export interface RevertWait {
  workflowId: string;
  /** The On-Demand fallback, which keeps serving. */
  fallbackId: string;
  afterSeconds: number;
  /** The failed launch, as recorded. */
  reason: string;
}

export interface CapacityDemoResult {
  ok: boolean;
  scenario: 'capacity';
  group: string;
  reclaimedPool: PoolName;
  reclaimedInstances: number;
  allowedPools: PoolName[];
  reservedInstance: { reservedInstancesId: string } & PoolName;
  /** Per workflow: the pool, capacity type and reason, the prices, and when it was chosen. */
  workflows: CapacityDemoWorkflow[];
  /** Reverts to Spot that waited for Spot capacity before it returned. */
  revertWaits: RevertWait[];
  checks: CapacityChecks;
  report: CapacityReport;
  deadLetters: number;
  elapsedSeconds: { real: number; virtual: number };
}

/** Virtual time the reclaim, and then the revert, may take before the demo gives up. */
const PHASE_LIMIT_MS = 30 * 60_000;

export async function runCapacityDemo(options: CapacityDemoOptions): Promise<CapacityDemoResult> {
  const { print } = options;
  const realStart = Date.now();
  const stack = await startLocalStack({
    clock: options.speed,
    policy: parsePolicy(CAPACITY_POLICY),
    delivery: 'queue',
  });
  try {
    const clients = cloudClients(stack);
    const scenario = await createCapacityFleet(stack.cloud, clients, {
      managedTagKey: stack.config.managedTagKey,
    });
    const running = () =>
      scenario.fleet.instanceIds.every((id) => stack.cloud.ec2.instance(id)?.state === 'running');
    await runUntil(stack, running, 60_000, 'the group to run');
    await registerFleet(clients.elbv2, scenario.fleet);
    const pools = (list: readonly PoolName[]) =>
      [...new Set(list.map((p) => p.instanceType))]
        .map(
          (t) =>
            `${t} in ${list
              .filter((p) => p.instanceType === t)
              .map((p) => p.availabilityZone)
              .join('/')}`,
        )
        .join(', ');
    const { reclaimedPool: reclaimed, reservation } = scenario;
    print(
      `Local cloud at ${stack.cloud.endpoint}, clock ${options.speed === 'manual' ? 'as fast as the handlers allow' : `×${options.speed}`}.`,
    );
    print(
      `Group ${CAPACITY_GROUP}: ${scenario.reclaimed.length} Spot ${reclaimed.instanceType} in ${reclaimed.availabilityZone} and ${scenario.others.length} more in other pools, behind target group "web".`,
    );
    print(
      `Policy: ${pools(scenario.allowedPools)}; unused Reserved Instances first, then Spot (price-capacity-optimized), On-Demand fallback, revert to Spot always.`,
    );
    print(
      `Capacity: unused RI ${reservation.reservedInstancesId} for ${reservation.instanceType} in ${reservation.availabilityZone}; ${SPOT_ROOM_PER_POOL} free Spot slots in each other allowed pool.`,
    );

    const t0 = stack.cloud.clock.now().getTime();
    const since = (at: number) => (at - t0) / 1000;
    const stamp = (at = stack.cloud.clock.now().getTime()) => `+${since(at).toFixed(1).padStart(6)}s`;
    const watch = watcher(stack, print, stamp);
    // When EC2 began terminating each instance, as its state-change events say.
    const reclaimedAt = new Map<string, number>();
    const unsubscribe = stack.cloud.onEvent((event) => {
      const { detail } = event;
      if (
        event['detail-type'] === 'EC2 Instance State-change Notification' &&
        detail.state === 'shutting-down' &&
        typeof detail['instance-id'] === 'string' &&
        !reclaimedAt.has(detail['instance-id'])
      )
        reclaimedAt.set(detail['instance-id'], Date.parse(event.time));
    });

    print(
      `${stamp()}  reclaim   EC2 warns all ${scenario.reclaimed.length} instances of ${reclaimed.instanceType} in ${reclaimed.availabilityZone} at once; the pool has no Spot capacity left.`,
    );
    reclaimPool(stack.cloud, scenario);
    const victims = new Set(scenario.reclaimed);
    await runUntil(
      stack,
      async () => {
        const all = await watch();
        const done = all.filter((w) => victims.has(w.instanceId) && w.status === 'completed');
        return (
          done.length === victims.size &&
          scenario.reclaimed.every((id) => stack.cloud.ec2.instance(id)?.state === 'terminated')
        );
      },
      PHASE_LIMIT_MS,
      `the ${victims.size} handoffs to complete`,
    );
    const spotRoomAtFallback = spotRoom(stack.cloud, scenario);
    const afterReclaim = await watch();
    const fallbacks = afterReclaim.filter(
      (w) => victims.has(w.instanceId) && w.replacement?.capacityType === 'on-demand',
    );
    print(
      `${stamp()}  capacity  free Spot slots now: ${spotRoomAtFallback.map((r) => `${r.pool.instanceType}/${r.pool.availabilityZone.slice(-1)} ${r.free}`).join(', ')}; ${fallbacks.length} replacements fell back to On-Demand.`,
    );

    print(
      `${stamp()}  capacity  Spot capacity returns to every pool; the sweep reverts the fallbacks to Spot.`,
    );
    spotReturns(stack.cloud);
    const fallbackIds = fallbacks.map((w) => w.replacement!.instanceId!);
    const revertOf = (all: readonly Workflow[], id: string) =>
      all.find((w) => w.instanceId === id && w.kind === 'revert-to-spot');
    await runUntil(
      stack,
      async () => {
        const all = await watch();
        return fallbackIds.every(
          (id) =>
            revertOf(all, id)?.status === 'completed' && stack.cloud.ec2.instance(id)?.state === 'terminated',
        );
      },
      PHASE_LIMIT_MS,
      `the ${fallbackIds.length} On-Demand fallbacks to revert to Spot`,
    );
    await stack.handlersIdle();
    const records = await watch();
    unsubscribe();

    const report = capacityReport(records);
    const checks = checkCapacity(stack, scenario, records, spotRoomAtFallback, fallbackIds);
    const result: CapacityDemoResult = {
      ok:
        checks.noneInReclaimedPool &&
        checks.onReservedInstance >= 1 &&
        checks.onDemandOnlyAfterSpotExhausted &&
        checks.revertedToSpot &&
        stack.bus.deadLetters.length === 0,
      scenario: 'capacity',
      group: CAPACITY_GROUP,
      reclaimedPool: reclaimed,
      reclaimedInstances: scenario.reclaimed.length,
      allowedPools: scenario.allowedPools,
      reservedInstance: reservation,
      workflows: report.workflows.map((line) => {
        const w = records.find((r) => r.workflowId === line.workflowId);
        const chosen = w && chosenAt(w);
        const reclaimed = line.kind === 'interruption' ? reclaimedAt.get(line.instanceId) : undefined;
        return {
          ...line,
          ...(chosen !== undefined ? { chosenAfterSeconds: since(chosen) } : {}),
          ...(reclaimed !== undefined ? { oldInstanceReclaimedAfterSeconds: since(reclaimed) } : {}),
        };
      }),
      revertWaits: records.flatMap((w) => {
        const failed = firstRevertWait(w);
        return failed
          ? [
              {
                workflowId: w.workflowId,
                fallbackId: w.instanceId,
                afterSeconds: since(Date.parse(failed.at)),
                reason: failed.detail ?? '',
              },
            ]
          : [];
      }),
      checks,
      report,
      deadLetters: stack.bus.deadLetters.length,
      elapsedSeconds: {
        real: (Date.now() - realStart) / 1000,
        virtual: (stack.cloud.clock.now().getTime() - t0) / 1000,
      },
    };
    print('');
    for (const line of formatCapacityReport(report).slice(-1)) print(line);
    print(
      `Done: ${result.ok ? 'every check holds' : `a check failed: ${JSON.stringify(checks)}`}. ${result.elapsedSeconds.real.toFixed(1)} s real, ${result.elapsedSeconds.virtual.toFixed(0)} s local-cloud time.`,
    );
    return result;
  } finally {
    await stack.stop();
  }
}

/**
 * When the replacement's capacity was chosen: the fleet request it came from (whose members record
 * their launch one after another afterwards), or else its own launch (the last `launch` step that
 * succeeded).
 */
const chosenAt = (w: Workflow): number | undefined => {
  const requested = w.replacement?.fleet?.requestedAt;
  if (requested) return Date.parse(requested);
  const step = w.steps.findLast((s) => s.name === 'launch' && s.status === 'done');
  return step ? Date.parse(step.at) : undefined;
};

/** A revert to Spot's first launch that found no Spot capacity, if any. */
const firstRevertWait = (w: Workflow) =>
  w.kind === 'revert-to-spot' ? w.steps.find((s) => s.name === 'launch' && s.status === 'failed') : undefined;

/**
 * Reads every workflow and prints what happened since the last read, at the time each workflow
 * recorded it, in that order: each replacement's choice (pool, capacity type, reason), the steps
 * of the workflows that replace carefully, and the reverts to Spot whose launch failed (Spot has
 * no capacity yet): each once, in one line per sweep that started them.
 */
function watcher(stack: LocalStack, print: (line: string) => void, stamp: (at: number) => string) {
  const seen = new Set<string>();
  return async (): Promise<Workflow[]> => {
    const all = (await stack.store.list()).reverse();
    const happened: { at: number; line: string }[] = [];
    const waits: { at: number; workflow: Workflow; detail?: string }[] = [];
    for (const w of all) {
      const r = w.replacement;
      const kind = w.kind ?? 'interruption';
      if (r?.instanceId && r.capacityType && !seen.has(`choice|${w.workflowId}|${r.instanceId}`)) {
        seen.add(`choice|${w.workflowId}|${r.instanceId}`);
        const where = r.pool ? `${r.pool.instanceType} in ${r.pool.availabilityZone}` : 'pool not recorded';
        const label = kind === 'interruption' ? 'choice' : kind === 'revert-to-spot' ? 'revert' : kind;
        happened.push({
          at: chosenAt(w) ?? Date.parse(w.updatedAt),
          line: `${label.padEnd(9)} ${w.instanceId} → ${r.instanceId} ${r.capacityType} ${where}: ${r.choiceReason ?? 'no reason recorded'}`,
        });
      }
      if (kind === 'interruption') continue;
      const wait = firstRevertWait(w);
      if (wait && !seen.has(`wait|${w.workflowId}`)) {
        seen.add(`wait|${w.workflowId}`);
        waits.push({ at: Date.parse(wait.at), workflow: w, detail: wait.detail });
      }
      for (const step of w.steps) {
        const key = `step|${w.workflowId}|${step.name}|${step.at}`;
        if (seen.has(key) || step.name === 'detected') continue;
        seen.add(key);
        // The choice line says what a launch chose; a revert's wait for Spot is summed up below.
        if (step.name === 'launch' && (step.status === 'done' || kind === 'revert-to-spot')) continue;
        happened.push({
          at: Date.parse(step.at),
          line: `${step.name.padEnd(9)} ${w.instanceId} ${step.status}${step.detail ? `: ${step.detail}` : ''}`,
        });
      }
    }
    // One line per sweep that started reverts: waits less than half a sweep period apart.
    const sweepPeriodMs = stack.bus.periodOf('sweeper');
    const bySweep: (typeof waits)[] = [];
    for (const wait of waits.sort((a, b) => a.at - b.at)) {
      const last = bySweep.at(-1);
      if (last && wait.at - last[0]!.at < sweepPeriodMs / 2) last.push(wait);
      else bySweep.push([wait]);
    }
    for (const sweep of bySweep)
      happened.push({
        at: sweep[0]!.at,
        line: `${'revert'.padEnd(9)} ${sweep.length} On-Demand fallbacks wait for Spot: ${sweep[0]!.detail ?? 'launch failed'}`,
      });
    for (const { at, line } of happened.sort((a, b) => a.at - b.at)) print(`${stamp(at)}  ${line}`);
    return all;
  };
}

/** The demo's claims, judged from what EC2 says and what the records say. */
function checkCapacity(
  stack: LocalStack,
  scenario: CapacityScenario,
  records: readonly Workflow[],
  spotRoomAtFallback: CapacityChecks['spotRoomAtFallback'],
  fallbackIds: readonly string[],
): CapacityChecks {
  const ec2 = stack.cloud.ec2;
  const replacements = records.flatMap((w) => {
    const instance = w.replacement?.instanceId ? ec2.instance(w.replacement.instanceId) : undefined;
    return instance ? [{ workflow: w, instance }] : [];
  });
  const onReservedInstance = replacements.filter(
    ({ workflow, instance }) =>
      workflow.replacement?.capacityType === 'reserved' &&
      instance.lifecycle === undefined &&
      samePool(instance, scenario.reservation),
  ).length;
  const reverted = fallbackIds.map((fallbackId) => {
    const revert = records.find((w) => w.instanceId === fallbackId && w.kind === 'revert-to-spot');
    return {
      fallbackId,
      workflowId: revert?.workflowId ?? '(none)',
      replacementId: revert?.replacement?.instanceId,
      capacityType: revert?.replacement?.capacityType,
      fallbackState: ec2.instance(fallbackId)?.state,
    };
  });
  const spotNow = (id: string | undefined) => (id ? ec2.instance(id)?.lifecycle === 'spot' : false);
  return {
    noneInReclaimedPool: replacements.every(({ instance }) => !samePool(instance, scenario.reclaimedPool)),
    onReservedInstance,
    spotRoomAtFallback,
    onDemandFallbacks: fallbackIds.length,
    onDemandOnlyAfterSpotExhausted:
      fallbackIds.length > 0 &&
      spotRoomAtFallback.every((r) => r.free === 0) &&
      fallbackIds.every((id) => ec2.instance(id) !== undefined && ec2.instance(id)!.lifecycle === undefined),
    revertedToSpot:
      reverted.length > 0 &&
      reverted.every(
        (r) => r.capacityType === 'spot' && spotNow(r.replacementId) && r.fallbackState === 'terminated',
      ),
    reverted,
  };
}
