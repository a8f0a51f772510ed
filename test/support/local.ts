import { randomUUID } from 'node:crypto';
import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { expect } from 'vitest';
import type { InstanceView } from '../../localcloud/ec2/inspect.ts';
import type { StatefulState } from '../../localcloud/scenarios/stateful.ts';
import type { WebFleet, WebFleetOptions } from '../../localcloud/scenarios/web-fleet.ts';
import { type LocalStack, launchFleet, runUntil, startLocalStack } from '../../src/cli/local-stack.ts';
import type { EventEnvelope } from '../../src/core/events.ts';
import type { Policy } from '../../src/core/policy.ts';
import { type Workflow, workflowIdFor } from '../../src/core/workflow.ts';

/** A local stack (manual clock) with the demo fleet running and registered. */
export interface FleetWorld {
  stack: LocalStack;
  fleet: WebFleet;
  ec2: EC2Client;
  elbv2: ElasticLoadBalancingV2Client;
  /** Moves virtual time on (1 s steps, handlers idle between) until `done` holds. */
  until(done: () => Promise<boolean> | boolean, what: string, limitMs?: number): Promise<void>;
  /** Lets `ms` of virtual time pass. */
  pass(ms: number): Promise<void>;
  /** What EC2 holds (read from the local cloud's state, not through the throttled API). */
  instances(): InstanceView[];
  /** The workflow of an interrupted instance, as the table holds it. */
  workflowOf(instanceId: string): Promise<Workflow | undefined>;
  /** The instances launched to replace `instanceId` (its `spot-handoff:replaces` tag). */
  replacementsOf(instanceId: string): InstanceView[];
  /** Target ids and states of the fleet's target group. */
  targets(): { id: string; state: string }[];
  stop(): Promise<void>;
}

export async function fleetWorld(
  options: WebFleetOptions = {},
  /** `env`: `HANDOFF_*` settings of the functions (rebalance policy, standby end, healing…). */
  stackOptions: { policy?: Policy } & Record<string, unknown> = {},
): Promise<FleetWorld> {
  const { policy, ...env } = stackOptions as { policy?: Policy } & Record<string, string>;
  const stack = await startLocalStack({
    clock: 'manual',
    ...(policy ? { policy } : {}),
    env: { ...process.env, ...env },
  });
  // Clients retry like any SDK client: the local cloud's token buckets are real-time, as AWS's are.
  const ec2 = new EC2Client(stack.cloud.clientConfig());
  const elbv2 = new ElasticLoadBalancingV2Client(stack.cloud.clientConfig());
  const until = (done: () => Promise<boolean> | boolean, what: string, limitMs = 5 * 60_000) =>
    runUntil(stack, done, limitMs, what);
  const instances = () => stack.cloud.ec2.instances();
  const fleet = await launchFleet(stack, { ec2, elbv2 }, options);
  return {
    stack,
    fleet,
    ec2,
    elbv2,
    until,
    async pass(ms) {
      const end = stack.cloud.clock.now().getTime() + ms;
      await until(() => stack.cloud.clock.now().getTime() >= end, `${ms} ms to pass`, ms + 1_000);
    },
    instances,
    workflowOf: (instanceId) => stack.store.get(workflowIdFor(instanceId)),
    replacementsOf: (instanceId) => instances().filter((i) => i.tags['spot-handoff:replaces'] === instanceId),
    targets() {
      return (stack.cloud.elbv2.targetGroupOf(fleet.targetGroupArn)?.targets ?? []).map((t) => ({
        id: t.id,
        state: t.state,
      }));
    },
    async stop() {
      ec2.destroy();
      elbv2.destroy();
      await stack.stop();
    },
  };
}

/** An EC2 event exactly as EventBridge delivers it. */
export function ec2Event(
  detailType: string,
  detail: Record<string, unknown>,
  options: { id?: string; time?: string } = {},
): EventEnvelope {
  return {
    version: '0',
    id: options.id ?? randomUUID(),
    'detail-type': detailType,
    source: 'aws.ec2',
    account: '123456789012',
    time: options.time ?? '2026-01-01T12:00:00Z',
    region: 'us-east-1',
    resources: [`arn:aws:ec2:us-east-1:123456789012:instance/${String(detail['instance-id'])}`],
    detail,
  };
}

/** The state given to a fleet instance sits on `holderId`: volume, interface, secondary IP, Elastic IP. */
export function expectStateOn(world: FleetWorld, holderId: string, state: StatefulState): void {
  const ec2 = world.stack.cloud.ec2;
  expect(ec2.volumes().find((v) => v.volumeId === state.volumeId)?.attachment).toMatchObject({
    instanceId: holderId,
    device: state.deviceName,
    state: 'attached',
  });
  expect(
    ec2.interfaces().find((e) => e.networkInterfaceId === state.networkInterfaceId)?.attachment,
  ).toMatchObject({ instanceId: holderId, deviceIndex: 1 });
  expect(ec2.instance(holderId)!.privateIps).toContain(state.secondaryPrivateIp);
  expect(ec2.addresses().find((a) => a.allocationId === state.allocationId)).toMatchObject({
    instanceId: holderId,
    privateIpAddress: ec2.instance(holderId)!.privateIpAddress,
  });
}
