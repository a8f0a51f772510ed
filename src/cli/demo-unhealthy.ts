import { alarmStateChange } from '../../localcloud/scenarios/alarms.ts';
import { type Workflow, workflowIdFor } from '../core/workflow.ts';
import type { DemoOptions, DemoResult } from './demo.ts';
import { cloudClients, type LocalStack, launchFleet, runUntil, startLocalStack } from './local-stack.ts';
import { summarize } from './summary.ts';

/**
 * `handoff demo --scenario unhealthy`: alarm-driven healing on the local cloud. The application on
 * one instance of the fleet starts failing its health checks; the target group's UnHealthyHostCount
 * alarm (named for healing) goes to ALARM, back to OK, and to ALARM again (it flaps). The instance
 * is healed once, carefully: replacement launched → registered → healthy → old drained → old
 * terminated.
 */

export const HEALING_ALARM = 'spot-handoff-heal-web-unhealthy-hosts';

/** The careful order, and when each step happened (seconds since the alarm). */
export interface UnhealthyCheck {
  alarm: string;
  /** The states the alarm went through, in order. */
  alarmStates: string[];
  order: { step: string; atSeconds: number; detail?: string }[];
  /** Every step of the careful order was recorded, each no earlier than the one before. */
  inOrder: boolean;
  /** Instances healed (replaced) for the flapping alarm: one. */
  healedInstances: string[];
  replacements: number;
}

/** Step of the workflow → what the demo calls it. */
const CAREFUL_ORDER: [string, string][] = [
  ['launch', 'replacement launched'],
  ['register', 'replacement registered'],
  ['healthy', 'replacement healthy'],
  ['drain', 'old instance drained'],
  ['terminated-old', 'old instance terminated'],
];

const VIRTUAL_LIMIT_MS = 15 * 60_000;

export async function runUnhealthyDemo(options: DemoOptions): Promise<DemoResult> {
  const { print } = options;
  const realStart = Date.now();
  const stack = await startLocalStack({ clock: options.speed });
  try {
    const clients = cloudClients(stack);
    const fleet = await launchFleet(stack, clients);
    print(
      `Fleet: ALB → target group "web" with ${fleet.instanceIds.length} managed instances: ${fleet.instanceIds.join(', ')}.`,
    );
    const victim = fleet.instanceIds[0]!;
    const t0 = stack.cloud.clock.now().getTime();
    const seconds = (ms: number) => Math.round((ms - t0) / 100) / 10;
    const stamp = () => `+${seconds(stack.cloud.clock.now().getTime()).toFixed(1).padStart(6)}s`;

    const targetState = (id: string) =>
      stack.cloud.elbv2.targetGroupOf(fleet.targetGroupArn)?.targets.find((t) => t.id === id)?.state;
    // The load balancer provisions, then the fleet passes its health checks.
    await runUntil(
      stack,
      () => fleet.instanceIds.every((id) => targetState(id) === 'healthy'),
      5 * 60_000,
      'the fleet to be healthy in target group web',
    );
    print(
      `${stamp()}  target    the fleet is healthy; the application on ${victim} starts failing its health checks.`,
    );
    stack.cloud.failHealthChecks(victim);
    await runUntil(stack, () => targetState(victim) === 'unhealthy', 60_000, `${victim} to be unhealthy`);
    print(`${stamp()}  target    ${victim} unhealthy in target group web`);

    const alarmStates: string[] = [];
    const sendAlarm = (state: 'OK' | 'ALARM', previousState: 'OK' | 'ALARM') => {
      alarmStates.push(state);
      print(`${stamp()}  alarm     ${HEALING_ALARM} ${previousState} → ${state}`);
      stack.bus.put(
        alarmStateChange({
          alarmName: HEALING_ALARM,
          state,
          previousState,
          time: stack.cloud.clock.now(),
          region: stack.cloud.region,
          accountId: stack.cloud.accountId,
          metric: {
            kind: 'target-group',
            targetGroupArn: fleet.targetGroupArn,
            loadBalancerArn: fleet.loadBalancerArn,
          },
        }),
      );
    };
    const seen = new Set<string>();
    const showSteps = async () => {
      const workflow = await stack.store.get(workflowIdFor(victim));
      for (const step of workflow?.steps ?? []) {
        const key = `${step.name}|${step.at}|${step.detail ?? ''}`;
        if (seen.has(key)) continue;
        seen.add(key);
        print(
          `+${seconds(Date.parse(step.at)).toFixed(1).padStart(6)}s  ${step.name.padEnd(9)} ${step.status}${step.detail ? `: ${step.detail}` : ''}`,
        );
      }
    };
    const stopWatching = stack.bus.onDelivery(() => void showSteps());
    const alarmAt = stack.cloud.clock.now().getTime();
    // The alarm flaps: ALARM, OK, ALARM.
    sendAlarm('ALARM', 'OK');
    await passFor(stack, 5_000);
    sendAlarm('OK', 'ALARM');
    await passFor(stack, 5_000);
    sendAlarm('ALARM', 'OK');

    await runUntil(
      stack,
      async () => {
        await showSteps();
        const workflow = await stack.store.get(workflowIdFor(victim));
        return (
          workflow?.status === 'completed' &&
          stack.cloud.ec2.instance(victim)?.state === 'terminated' &&
          targetState(victim) === undefined
        );
      },
      VIRTUAL_LIMIT_MS,
      'the unhealthy instance to be replaced and terminated',
    );
    await stack.handlersIdle();
    await showSteps();
    stopWatching();

    const workflow = (await stack.store.get(workflowIdFor(victim)))!;
    const replacements = stack.cloud.ec2
      .instances()
      .filter((i) => i.tags['spot-handoff:replaces'] === victim);
    const unhealthy = checkOrder(workflow, alarmAt, alarmStates, replacements.length);
    const group = stack.cloud.elbv2.targetGroupOf(fleet.targetGroupArn);
    const result: DemoResult = {
      timelines: [],
      ok:
        workflow.outcome === 'replaced' &&
        unhealthy.inOrder &&
        replacements.length === 1 &&
        stack.bus.deadLetters.length === 0,
      scenario: 'unhealthy',
      interruptedInstanceId: victim,
      workflows: [summarize(workflow)],
      replacementIds: replacements.map((r) => r.instanceId),
      oldInstance: { instanceId: victim, state: stack.cloud.ec2.instance(victim)?.state ?? 'gone' },
      targetGroups: [
        {
          targetGroupArn: fleet.targetGroupArn,
          targets: (group?.targets ?? []).map((t) => ({ id: t.id, port: t.port, state: t.state })),
        },
      ],
      deadLetters: stack.bus.deadLetters.length,
      elapsedSeconds: {
        real: (Date.now() - realStart) / 1000,
        virtual: (stack.cloud.clock.now().getTime() - t0) / 1000,
      },
      unhealthy,
    };
    for (const { step, atSeconds } of unhealthy.order)
      print(`  ${step.padEnd(24)} +${atSeconds.toFixed(1)}s after the alarm`);
    print(
      `Done: ${workflow.workflowId} ${workflow.status} (${workflow.outcome}); the flapping alarm (${alarmStates.join('/')}) healed ${unhealthy.healedInstances.length} instance with ${replacements.length} replacement. Target group now: ${result.targetGroups[0]!.targets.map((t) => `${t.id} ${t.state}`).join(', ')}.`,
    );
    clients.ec2.destroy();
    clients.elbv2.destroy();
    return result;
  } finally {
    await stack.stop();
  }
}

function checkOrder(
  workflow: Workflow,
  alarmAt: number,
  alarmStates: string[],
  replacements: number,
): UnhealthyCheck {
  const first = (name: string) => workflow.steps.find((s) => s.name === name && s.status === 'done');
  const order = CAREFUL_ORDER.flatMap(([name, step]) => {
    const found = first(name);
    return found
      ? [
          {
            step,
            atSeconds: (Date.parse(found.at) - alarmAt) / 1000,
            ...(found.detail ? { detail: found.detail } : {}),
          },
        ]
      : [];
  });
  const inOrder =
    order.length === CAREFUL_ORDER.length &&
    order.every((o, i) => i === 0 || o.atSeconds >= order[i - 1]!.atSeconds);
  return {
    alarm: HEALING_ALARM,
    alarmStates,
    order,
    inOrder,
    healedInstances: workflow.kind === 'unhealthy' ? [workflow.instanceId] : [],
    replacements,
  };
}

async function passFor(stack: LocalStack, ms: number): Promise<void> {
  const end = stack.cloud.clock.now().getTime() + ms;
  await runUntil(stack, () => stack.cloud.clock.now().getTime() >= end, ms + 1_000, `${ms} ms to pass`);
}
