import type { EventEnvelope } from '../core/events.ts';
import { type Workflow, workflowIdFor } from '../core/workflow.ts';
import { CliError } from './errors.ts';
import { cloudClients, launchFleet, runUntil, startLocalStack } from './local-stack.ts';
import { summarize, type WorkflowSummary } from './summary.ts';

/**
 * `handoff demo --scenario chaos`: many interruptions at once under what goes wrong in
 * production — API faults and throttling, duplicate, out-of-order and lost events, invocations
 * that crash between two steps — and then what EC2 and ELB say: every workflow finished (or its
 * reason recorded), one replacement per interrupted instance, no replacement nobody records, every
 * replacement serving.
 */

export interface ChaosOptions {
  speed: number | 'manual';
  /** Progress lines go here (nothing with --json). */
  print: (line: string) => void;
}

export interface ChaosResult {
  ok: boolean;
  scenario: 'chaos';
  fleetSize: number;
  interrupted: string[];
  /** What was done to the handoff, as counts. */
  chaos: {
    faultsInjected: { action: string; code: string; times: number }[];
    duplicatedEvents: number;
    delayedEvents: number;
    lostEvents: number;
    failedInvocations: number;
    retriedInvocations: number;
  };
  workflows: WorkflowSummary[];
  /** Interrupted instances with more than one replacement. */
  doubleLaunches: number;
  /** Replacements no workflow records, and replacements of finished workflows not serving. */
  lostResources: { instanceId: string; what: string }[];
  /** Interrupted instances whose workflow is neither completed nor open with a recorded reason. */
  unaccounted: string[];
  deadLetters: number;
  elapsedSeconds: { real: number; virtual: number };
}

const FLEET_SIZE = 8;
const INTERRUPTED = 6;
const VIRTUAL_LIMIT_MS = 20 * 60_000;

/**
 * Faults the local cloud injects ahead of the handoff. More than the SDK's 5 attempts fails the
 * invocation in the middle of its steps (a crash), which EventBridge's retry or the sweep resumes.
 */
const FAULTS = [
  { action: 'DescribeInstances', code: 'RequestLimitExceeded', times: 4 },
  { action: 'RunInstances', code: 'InternalError', times: 3 },
  { action: 'RunInstances', code: 'RequestLimitExceeded', times: 7 },
  { action: 'DescribeTargetHealth', code: 'Throttling', times: 3 },
  { action: 'DeregisterTargets', code: 'InternalFailure', times: 6 },
  { action: 'RegisterTargets', code: 'InternalFailure', times: 7 },
] as const;

const WARNING = 'EC2 Spot Instance Interruption Warning';
const STATE_CHANGE = 'EC2 Instance State-change Notification';

export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const { print } = options;
  const realStart = Date.now();
  const stack = await startLocalStack({ clock: options.speed });
  try {
    const clients = cloudClients(stack);
    const fleet = await launchFleet(stack, clients, { size: FLEET_SIZE });
    const interrupted = fleet.instanceIds.slice(0, INTERRUPTED);
    print(
      `Fleet: ${fleet.instanceIds.length} managed Spot instances in target group "web"; interrupting ${interrupted.length} of them under injected faults.`,
    );
    const cloud = stack.cloud;
    const t0 = cloud.clock.now().getTime();

    for (const fault of FAULTS) cloud.injectFault(fault.action, fault.code, fault.times);
    print(`Faults: ${FAULTS.map((f) => `${f.action} ${f.code} ×${f.times}`).join(', ')}.`);

    // What happens to EC2's events on their way: each interrupted instance gets its own trouble.
    const [duplicated, delayed, warningLost, replacementEventsLost] = interrupted;
    const chaos = { duplicatedEvents: 0, delayedEvents: 0, lostEvents: 0 };
    const replacementOf = new Map<string, string>();
    stack.deliverIf = (event: EventEnvelope) => {
      const id = String(event.detail['instance-id'] ?? '');
      if (id === duplicated) {
        // Every event of this one comes three times, the copies late.
        chaos.duplicatedEvents += 2;
        cloud.clock.schedule(5_000, () => stack.bus.put(event));
        cloud.clock.schedule(45_000, () => stack.bus.put(event));
      }
      if (id === delayed && event['detail-type'] === WARNING) {
        // Its warning arrives after EC2 has begun terminating it: out of order.
        chaos.delayedEvents += 1;
        cloud.clock.schedule(150_000, () => stack.bus.put(event));
        return false;
      }
      if (id === warningLost && event['detail-type'] === WARNING) {
        chaos.lostEvents += 1;
        return false;
      }
      const replaced = replacementOf.get(id);
      if (replaced === replacementEventsLost && event['detail-type'] === STATE_CHANGE) {
        // Its replacement's state changes never arrive: the sweep sees it run.
        chaos.lostEvents += 1;
        return false;
      }
      return true;
    };
    const learnReplacements = (workflows: readonly Workflow[]) => {
      for (const w of workflows) {
        if (w.replacement?.instanceId) replacementOf.set(w.replacement.instanceId, w.instanceId);
      }
    };

    for (const [index, instanceId] of interrupted.entries()) {
      cloud.clock.schedule(index * 2_000, () => cloud.interrupt(instanceId));
    }
    print(`Interrupting ${interrupted.join(', ')}, 2 s apart.`);

    let reported = '';
    const settled = runUntil(
      stack,
      async () => {
        const workflows = await workflowsOf(stack.store, interrupted);
        learnReplacements(workflows);
        const line = progressLine(workflows, interrupted.length);
        if (line !== reported) {
          reported = line;
          print(`+${((cloud.clock.now().getTime() - t0) / 1000).toFixed(0).padStart(4)}s  ${line}`);
        }
        const oldGone = interrupted.every((id) => cloud.ec2.instance(id)?.state === 'terminated');
        return oldGone && workflows.length === interrupted.length && workflows.every(isFinished);
      },
      VIRTUAL_LIMIT_MS,
      'every interrupted instance to be handed off',
    );
    // Out of time: what is left is reported, each workflow with its reason, not thrown.
    await settled.catch((error: unknown) => {
      if (!(error instanceof CliError)) throw error;
      print(`${error.message} Reporting where each workflow stands.`);
    });
    await stack.handlersIdle();

    const workflows = await workflowsOf(stack.store, interrupted);
    const serving = new Set(
      (cloud.elbv2.targetGroupOf(fleet.targetGroupArn)?.targets ?? [])
        .filter((t) => t.state === 'healthy' || t.state === 'initial')
        .map((t) => t.id),
    );
    const launched = cloud.ec2.instances().filter((i) => i.tags['spot-handoff:replaces'] !== undefined);
    const doubleLaunches = interrupted.filter(
      (id) => launched.filter((i) => i.tags['spot-handoff:replaces'] === id).length > 1,
    ).length;
    const recorded = new Set(
      workflows.flatMap((w) => (w.replacement?.instanceId ? [w.replacement.instanceId] : [])),
    );
    const lostResources = [
      ...launched
        .filter((i) => !recorded.has(i.instanceId))
        .map((i) => ({ instanceId: i.instanceId, what: `a replacement (${i.state}) no workflow records` })),
      ...workflows
        .filter((w) => w.outcome === 'replaced' && !serving.has(w.replacement!.instanceId!))
        .map((w) => ({
          instanceId: w.replacement!.instanceId!,
          what: `the replacement of ${w.instanceId} does not serve in target group web`,
        })),
    ];
    const byInstance = new Map(workflows.map((w) => [w.instanceId, w]));
    const unaccounted = interrupted.filter((id) => {
      const w = byInstance.get(id);
      return !w || !(w.status === 'completed' || w.reason);
    });
    const failed = stack.deliveries.filter((d) => !d.ok);
    const result: ChaosResult = {
      ok: doubleLaunches === 0 && lostResources.length === 0 && unaccounted.length === 0,
      scenario: 'chaos',
      fleetSize: fleet.instanceIds.length,
      interrupted,
      chaos: {
        faultsInjected: FAULTS.map((f) => ({ ...f })),
        ...chaos,
        failedInvocations: failed.length,
        retriedInvocations: stack.deliveries.filter((d) => d.attempt > 1).length,
      },
      workflows: workflows.map(summarize),
      doubleLaunches,
      lostResources,
      unaccounted,
      deadLetters: stack.bus.deadLetters.length,
      elapsedSeconds: {
        real: (Date.now() - realStart) / 1000,
        virtual: (cloud.clock.now().getTime() - t0) / 1000,
      },
    };
    for (const w of workflows) {
      print(
        `${w.instanceId}: ${w.status}${w.outcome ? ` (${w.outcome})` : ''}${w.replacement?.instanceId ? ` → ${w.replacement.instanceId}` : ''}${w.reason ? ` — ${w.reason}` : ''}`,
      );
    }
    print(
      `Done: ${workflows.filter((w) => w.status === 'completed').length}/${interrupted.length} workflows completed, ${doubleLaunches} double launches, ${lostResources.length} lost resources, ${unaccounted.length} unaccounted; ${result.chaos.failedInvocations} invocations failed under the faults (${result.chaos.retriedInvocations} retries), ${result.deadLetters} dead letters. ${result.elapsedSeconds.real.toFixed(1)} s real, ${result.elapsedSeconds.virtual.toFixed(0)} s local-cloud time.`,
    );
    return result;
  } finally {
    await stack.stop();
  }
}

/** Finished: completed, or waiting with its reason recorded and nothing left this run can do. */
const isFinished = (w: Workflow) => w.status === 'completed';

async function workflowsOf(
  store: { get(id: string): Promise<Workflow | undefined> },
  instanceIds: readonly string[],
): Promise<Workflow[]> {
  const found = await Promise.all(instanceIds.map((id) => store.get(workflowIdFor(id))));
  return found.filter((w) => w !== undefined);
}

function progressLine(workflows: readonly Workflow[], total: number): string {
  const count = (status: string) => workflows.filter((w) => w.status === status).length;
  return `workflows: ${count('completed')} completed, ${count('in-progress')} in progress, ${total - workflows.length} not started`;
}
