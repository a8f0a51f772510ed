import { DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import {
  DescribeTargetHealthCommand,
  ElasticLoadBalancingV2Client,
} from '@aws-sdk/client-elastic-load-balancing-v2';
import type { AwsEvent } from '../../localcloud/contracts.ts';
import { createWebFleet, registerFleet, type WebFleet } from '../../localcloud/scenarios/web-fleet.ts';
import { workflowIdFor } from '../core/workflow.ts';
import { type LocalStack, startLocalStack } from './local-stack.ts';
import { CliError, summarize, type WorkflowSummary } from './summary.ts';

export interface DemoOptions {
  /** Virtual seconds per real second; `manual` drives the clock as fast as the work allows (tests). */
  speed: number | 'manual';
  /** Send a rebalance recommendation before the warning. */
  rebalance: boolean;
  /** Progress lines go here (nothing with --json). */
  print: (line: string) => void;
}

export interface DemoResult {
  ok: boolean;
  scenario: 'basic';
  interruptedInstanceId: string;
  workflows: WorkflowSummary[];
  replacementIds: string[];
  oldInstance: { instanceId: string; state: string };
  targetGroups: { targetGroupArn: string; targets: { id: string; port: number; state: string }[] }[];
  deadLetters: number;
  elapsedSeconds: { real: number; virtual: number };
}

const VIRTUAL_LIMIT_MS = 10 * 60_000;

/**
 * Moves the local cloud on until `done` holds: a manual clock is advanced step by step, a scaled
 * clock is given real time. Fails after `limitMs` of virtual time.
 */
export async function runUntil(
  stack: LocalStack,
  done: () => Promise<boolean> | boolean,
  limitMs: number,
  what: string,
): Promise<void> {
  const deadline = stack.cloud.clock.now().getTime() + limitMs;
  for (;;) {
    await stack.settle();
    if (await done()) return;
    if (stack.cloud.clock.now().getTime() >= deadline) {
      throw new CliError(`Timed out after ${limitMs / 1000} s of local-cloud time waiting for ${what}.`);
    }
    if (stack.manualClock) await stack.cloud.clock.advance(1_000);
    else await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export async function runDemo(options: DemoOptions): Promise<DemoResult> {
  const { print } = options;
  const realStart = Date.now();
  const stack = await startLocalStack({ clock: options.speed });
  try {
    const clients = {
      ec2: new EC2Client({ region: stack.cloud.region }),
      elbv2: new ElasticLoadBalancingV2Client({ region: stack.cloud.region }),
    };
    print(
      `Local cloud at ${stack.cloud.endpoint} (EC2, ELBv2, DynamoDB), clock ${options.speed === 'manual' ? 'manual' : `×${options.speed}`}.`,
    );

    // The fleet: what a user already runs.
    const fleet = await createWebFleet(clients);
    await runUntil(stack, () => allRunning(clients.ec2, fleet), 60_000, 'the fleet to run');
    await registerFleet(clients.elbv2, fleet);
    print(
      `Fleet: ALB → target group "web" (deregistration delay 30 s) with ${fleet.instanceIds.length} managed Spot instances: ${fleet.instanceIds.join(', ')}.`,
    );

    // The interruption, and what follows, printed as it happens.
    const victim = fleet.instanceIds[0]!;
    const t0 = stack.cloud.clock.now().getTime();
    const stamp = () => `+${((stack.cloud.clock.now().getTime() - t0) / 1000).toFixed(1).padStart(6)}s`;
    const seenSteps = new Set<string>();
    let oldState = 'running';
    const unsubscribe = stack.cloud.onEvent((event: AwsEvent) => {
      const id = String(event.detail['instance-id'] ?? '');
      if (event['detail-type'] === 'EC2 Instance State-change Notification') {
        if (id === victim) oldState = String(event.detail['state']);
        if (id !== victim && !seenReplacement(id)) return;
        print(`${stamp()}  event     ${id} is ${String(event.detail['state'])}`);
      } else {
        print(`${stamp()}  event     ${event['detail-type']} for ${id}`);
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
        print(`${stamp()}  ${step.name.padEnd(9)} ${step.status}${step.detail ? `: ${step.detail}` : ''}`);
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
        await showSteps();
        const workflow = await stack.store.get(workflowIdFor(victim));
        return workflow?.status === 'completed' && oldState === 'terminated';
      },
      VIRTUAL_LIMIT_MS,
      'the handoff to complete and the old instance to terminate',
    );
    await showSteps();
    unsubscribe();
    stopWatching();

    const workflow = (await stack.store.get(workflowIdFor(victim)))!;
    const targetGroups = [await targetGroupView(clients.elbv2, fleet)];
    const result: DemoResult = {
      ok: workflow.outcome === 'replaced' && stack.bus.deadLetters.length === 0,
      scenario: 'basic',
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
    };
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

async function allRunning(ec2: EC2Client, fleet: WebFleet): Promise<boolean> {
  const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: fleet.instanceIds }));
  const states = (out.Reservations ?? []).flatMap((r) => r.Instances ?? []).map((i) => i.State?.Name);
  return states.length === fleet.instanceIds.length && states.every((s) => s === 'running');
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
