import { join } from 'node:path';
import {
  DescribeTargetHealthCommand,
  type ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { StatefulState } from '../../localcloud/scenarios/stateful.ts';
import type { WebFleet } from '../../localcloud/scenarios/web-fleet.ts';
import type { EventEnvelope } from '../core/events.ts';
import { resourceLabel } from '../core/stateful.ts';
import { type Workflow, workflowIdFor } from '../core/workflow.ts';
import { runUnhealthyDemo, type UnhealthyCheck } from './demo-unhealthy.ts';
import {
  cloudClients,
  giveFleetState,
  type LocalStack,
  launchFleet,
  runUntil,
  startLocalStack,
} from './local-stack.ts';
import { summarize, type WorkflowSummary } from './summary.ts';
import { timelineOf, writeTimelineSvg } from './timeline.ts';

export type Scenario = 'basic' | 'stateful' | 'unhealthy';

export interface DemoOptions {
  /** Virtual seconds per real second; `manual` steps the clock on whenever no handler runs (`--speed max`). */
  speed: number | 'manual';
  /** Send a rebalance recommendation before the warning. */
  rebalance: boolean;
  /** `stateful`: the interrupted instance has a data volume, a secondary interface and IP, and an Elastic IP. */
  scenario: Scenario;
  /** Where the picture of each workflow is written (`<dir>/<workflow id>.svg`). */
  timelinesDir: string;
  /** Progress lines go here (nothing with --json). */
  print: (line: string) => void;
}

export interface DemoResult {
  ok: boolean;
  scenario: Scenario;
  interruptedInstanceId: string;
  workflows: WorkflowSummary[];
  replacementIds: string[];
  oldInstance: { instanceId: string; state: string };
  targetGroups: { targetGroupArn: string; targets: { id: string; port: number; state: string }[] }[];
  deadLetters: number;
  elapsedSeconds: { real: number; virtual: number };
  /** Stateful scenario: where each resource of the old instance is now, as EC2 says. */
  stateful?: StatefulCheck;
  /** The picture of each workflow (`handoff timeline --svg`). */
  timelines: string[];
  /** Unhealthy scenario: the careful order with its times, and the flapping alarm healed once. */
  unhealthy?: UnhealthyCheck;
}

export interface StatefulCheck {
  replacementAvailabilityZone?: string;
  sameAvailabilityZone: boolean;
  volume: { volumeId: string; attachedTo?: string; device?: string };
  networkInterface: { networkInterfaceId: string; attachedTo?: string; deviceIndex?: number };
  secondaryPrivateIp: { address: string; heldBy?: string };
  elasticIp: { publicIp: string; associatedWith?: string };
  /** The replacement joined its target groups only after everything was handed over. */
  registeredAfterHandover: boolean;
  allMoved: boolean;
}

const VIRTUAL_LIMIT_MS = 10 * 60_000;

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  if (options.scenario === 'unhealthy') return runUnhealthyDemo(options);
  const { print } = options;
  const realStart = Date.now();
  const stack = await startLocalStack({ clock: options.speed });
  try {
    const clients = cloudClients(stack);
    print(
      `Local cloud at ${stack.cloud.endpoint} (EC2, ELBv2, DynamoDB), clock ${options.speed === 'manual' ? 'as fast as the handlers allow' : `×${options.speed}`}.`,
    );

    // The fleet: what a user already runs.
    const stateful = options.scenario === 'stateful';
    const fleet = await launchFleet(
      stack,
      clients,
      stateful ? { tags: { 'spot-handoff:stateful': 'true' } } : {},
    );
    print(
      `Fleet: ALB → target group "web" (deregistration delay 30 s) with ${fleet.instanceIds.length} managed Spot instances: ${fleet.instanceIds.join(', ')}.`,
    );
    const victim = fleet.instanceIds[0]!;
    let state: StatefulState | undefined;
    if (stateful) {
      state = await giveFleetState(stack, clients.ec2, victim);
      print(
        `${victim} is stateful: data volume ${state.volumeId} at ${state.deviceName}, interface ${state.networkInterfaceId} (device 1), secondary IP ${state.secondaryPrivateIp}, Elastic IP ${state.publicIp}, in ${state.availabilityZone}.`,
      );
    }

    // The interruption, and what follows, printed as it happens, in the order it happened: lines
    // wait until every handler is idle, since a handler may still record a step dated before an
    // event already seen (on a scaled clock time moves while a handler runs).
    const t0 = stack.cloud.clock.now().getTime();
    const stampAt = (ms: number) => `+${((ms - t0) / 1000).toFixed(1).padStart(6)}s`;
    const nowMs = () => stack.cloud.clock.now().getTime();
    const narration = new Narration(print);
    const say = (at: number, line: string, order = Order.step) =>
      narration.add(at, order, `${stampAt(at)}  ${line}`);
    /** The target group as ELB sees it: each instance's target state, printed when it changes. */
    const targetStates = new Map<string, string>();
    const showTargets = () => {
      const group = stack.cloud.elbv2.targetGroupOf(fleet.targetGroupArn);
      const now = new Map((group?.targets ?? []).map((t) => [t.id, t.state]));
      for (const id of new Set([...targetStates.keys(), ...now.keys()])) {
        const state = now.get(id) ?? 'deregistered';
        if (targetStates.get(id) === state || (id !== victim && !replacementIds.includes(id))) continue;
        targetStates.set(id, state);
        const until = group?.targets.find((t) => t.id === id)?.drainingUntil;
        const detail =
          state === 'draining' && until ? ` until ${stampAt(until.getTime()).replace(/\s+/g, '')}` : '';
        const where =
          state === 'deregistered' ? 'out of target group web' : `${state} in target group web${detail}`;
        say(nowMs(), `${'target'.padEnd(9)} ${id} ${where}`, Order.target);
      }
    };
    for (const t of stack.cloud.elbv2.targetGroupOf(fleet.targetGroupArn)?.targets ?? [])
      targetStates.set(t.id, t.state);
    const seenSteps = new Set<string>();
    const seenMoves = new Set<string>();
    let oldState = 'running';
    const unsubscribe = stack.cloud.onEvent((event: EventEnvelope) => {
      const id = String(event.detail['instance-id'] ?? '');
      if (event['detail-type'] === 'EC2 Instance State-change Notification') {
        if (id === victim) oldState = String(event.detail['state']);
        if (id !== victim && !seenReplacement(id)) return;
        say(nowMs(), `event     ${id} is ${String(event.detail['state'])}`, Order.event);
      } else {
        say(nowMs(), `event     ${event['detail-type']} for ${id}`, Order.event);
      }
    });
    let replacementIds: string[] = [];
    const seenReplacement = (id: string) => replacementIds.includes(id);
    const showSteps = async () => {
      const workflow = await stack.store.get(workflowIdFor(victim));
      if (!workflow) return;
      replacementIds = workflow.replacement?.instanceId ? [workflow.replacement.instanceId] : [];
      for (const step of workflow.steps) {
        const key = `${step.name}|${step.at}|${step.detail ?? ''}`;
        if (seenSteps.has(key)) continue;
        seenSteps.add(key);
        const late = step.late
          ? ` (late: due ${stampAt(Date.parse(step.deadline!)).replace(/\s+/g, '')})`
          : '';
        say(
          Date.parse(step.at),
          `${step.name.padEnd(9)} ${step.status}${step.detail ? `: ${step.detail}` : ''}${late}`,
        );
      }
      for (const resource of workflow.handover?.resources ?? []) {
        const key = `${resourceLabel(resource)}|${resource.status}`;
        if (seenMoves.has(key) || resource.status === 'protected') continue;
        seenMoves.add(key);
        const where =
          resource.status === 'left-available' ? `left available: ${resource.reason}` : resource.status;
        // Dated when it was verified on the replacement: before the handover step that follows.
        say(
          resource.movedAt ? Date.parse(resource.movedAt) : nowMs(),
          `${'moved'.padEnd(9)} ${resource.kind} ${resourceLabel(resource)} ${where}`,
          resource.movedAt ? Order.move : Order.target,
        );
      }
    };
    const stopWatching = stack.bus.onDelivery(() => void showSteps());

    print(
      `Interrupting ${victim}${options.rebalance ? ' (rebalance recommendation first)' : ''}: EC2 reclaims it in 2 minutes.`,
    );
    stack.cloud.interrupt(victim, options.rebalance ? { rebalance: true, rebalanceLeadMs: 30_000 } : {});
    await runUntil(
      stack,
      async () => {
        const idleAt = nowMs(); // every handler is idle: nothing dated before this is still to come
        await showSteps();
        showTargets();
        narration.flush(idleAt);
        const workflow = await stack.store.get(workflowIdFor(victim));
        const drained = !stack.cloud.elbv2
          .targetGroupOf(fleet.targetGroupArn)
          ?.targets.some((t) => t.id === victim);
        return workflow?.status === 'completed' && oldState === 'terminated' && drained;
      },
      VIRTUAL_LIMIT_MS,
      'the handoff to complete and the old instance to terminate',
    );
    await stack.handlersIdle(); // the last events' handlers, before the last lines
    await showSteps();
    showTargets();
    unsubscribe();
    stopWatching();
    narration.flush(Number.POSITIVE_INFINITY);

    const workflow = (await stack.store.get(workflowIdFor(victim)))!;
    const targetGroups = [await targetGroupView(clients.elbv2, fleet)];
    const picture = join(options.timelinesDir, `${workflow.workflowId}.svg`);
    await writeTimelineSvg(picture, timelineOf(workflow));
    const check = state ? checkStateful(stack, state, workflow) : undefined;
    const result: DemoResult = {
      ok: workflow.outcome === 'replaced' && stack.bus.deadLetters.length === 0 && (check?.allMoved ?? true),
      scenario: options.scenario,
      interruptedInstanceId: victim,
      workflows: [summarize(workflow)],
      replacementIds,
      oldInstance: { instanceId: victim, state: oldState },
      targetGroups,
      deadLetters: stack.bus.deadLetters.length,
      elapsedSeconds: {
        real: (Date.now() - realStart) / 1000,
        virtual: (stack.cloud.clock.now().getTime() - t0) / 1000,
      },
      stateful: check,
      timelines: [picture],
    };
    if (check) {
      print(
        check.allMoved
          ? `Everything moved to ${workflow.replacement?.instanceId} in ${check.replacementAvailabilityZone}, and it joined the target group only after the handover.`
          : `Not everything moved: ${JSON.stringify(check)}`,
      );
    }
    print(`Timelines (one picture per workflow): ${result.timelines.join(', ')}`);
    print(
      `Done: ${workflow.workflowId} ${workflow.status} (${workflow.outcome}). Target group now: ${targetGroups[0]!.targets
        .map((t) => `${t.id} ${t.state}`)
        .join(
          ', ',
        )}. ${result.elapsedSeconds.real.toFixed(1)} s real, ${result.elapsedSeconds.virtual.toFixed(0)} s local-cloud time.`,
    );
    return result;
  } finally {
    await stack.stop();
  }
}

/** At the same time: an event before what it caused, a verified move before the step it completes. */
enum Order {
  event = 0,
  move = 1,
  step = 2,
  target = 3,
}

/** Lines dated in local-cloud time, printed in time order once nothing earlier can still come. */
class Narration {
  private readonly lines: { at: number; order: Order; seq: number; text: string }[] = [];
  private seq = 0;

  constructor(private readonly print: (line: string) => void) {}

  add(at: number, order: Order, text: string): void {
    this.lines.push({ at, order, seq: this.seq++, text });
  }

  /** Prints every line dated up to `upTo`, in order. */
  flush(upTo: number): void {
    this.lines.sort((a, b) => a.at - b.at || a.order - b.order || a.seq - b.seq);
    while (this.lines.length > 0 && this.lines[0]!.at <= upTo) this.print(this.lines.shift()!.text);
  }
}

async function targetGroupView(elbv2: ElasticLoadBalancingV2Client, fleet: WebFleet) {
  const health = await elbv2.send(new DescribeTargetHealthCommand({ TargetGroupArn: fleet.targetGroupArn }));
  return {
    targetGroupArn: fleet.targetGroupArn,
    targets: (health.TargetHealthDescriptions ?? []).map((d) => ({
      id: d.Target!.Id!,
      port: d.Target!.Port!,
      state: d.TargetHealth?.State ?? 'unknown',
    })),
  };
}

/** What EC2 itself says about where the old instance's state is now. */
function checkStateful(stack: LocalStack, state: StatefulState, workflow: Workflow): StatefulCheck {
  const ec2 = stack.cloud.ec2;
  const replacementId = workflow.replacement?.instanceId;
  const replacement = replacementId ? ec2.instance(replacementId) : undefined;
  const volume = ec2.volumes().find((v) => v.volumeId === state.volumeId);
  const eni = ec2.interfaces().find((e) => e.networkInterfaceId === state.networkInterfaceId);
  const holder = ec2
    .instances()
    .find((i) => i.state !== 'terminated' && i.privateIps.includes(state.secondaryPrivateIp));
  const address = ec2.addresses().find((a) => a.allocationId === state.allocationId);
  const addressHolder = ec2.interfaces().find((e) => e.networkInterfaceId === address?.networkInterfaceId)
    ?.attachment?.instanceId;
  const names = workflow.steps.map((s) => s.name);
  const check: StatefulCheck = {
    replacementAvailabilityZone: replacement?.availabilityZone,
    sameAvailabilityZone: replacement?.availabilityZone === state.availabilityZone,
    volume: {
      volumeId: state.volumeId,
      attachedTo: volume?.attachment?.instanceId,
      device: volume?.attachment?.device,
    },
    networkInterface: {
      networkInterfaceId: state.networkInterfaceId,
      attachedTo: eni?.attachment?.instanceId,
      deviceIndex: eni?.attachment?.deviceIndex,
    },
    secondaryPrivateIp: { address: state.secondaryPrivateIp, heldBy: holder?.instanceId },
    elasticIp: { publicIp: state.publicIp, associatedWith: address?.instanceId ?? addressHolder },
    registeredAfterHandover:
      names.includes('register') && names.indexOf('handover') < names.indexOf('register'),
    allMoved: false,
  };
  check.allMoved =
    replacementId !== undefined &&
    check.sameAvailabilityZone &&
    check.volume.attachedTo === replacementId &&
    check.volume.device === state.deviceName &&
    check.networkInterface.attachedTo === replacementId &&
    check.secondaryPrivateIp.heldBy === replacementId &&
    check.elasticIp.associatedWith === replacementId &&
    check.registeredAfterHandover;
  return check;
}
