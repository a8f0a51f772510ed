import { EC2Client } from '@aws-sdk/client-ec2';
import { ElasticLoadBalancingV2Client } from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterEach, describe, expect, it } from 'vitest';
import { type LocalStack, launchFleet, runUntil, startLocalStack } from '../../src/cli/local-stack.ts';
import { workflowIdFor } from '../../src/core/workflow.ts';

/**
 * Delivery `queue` through the local cloud and the functions of serverless.yml: EventBridge puts
 * the warnings on the interruption function's queue, which hands them over in one batch. One
 * warning's work is throttled by AWS beyond the SDK's retries: that record alone is reported as a
 * batch item failure, comes back after the visibility timeout and completes; no invocation fails,
 * nothing reaches the dead-letter queue, no workflow is lost.
 */

let stack: LocalStack | undefined;
let clients: { ec2: EC2Client; elbv2: ElasticLoadBalancingV2Client } | undefined;
afterEach(async () => {
  clients?.ec2.destroy();
  clients?.elbv2.destroy();
  await stack?.stop();
  stack = undefined;
  clients = undefined;
});

describe('queue delivery', () => {
  it('redelivers only the record whose work AWS throttled, and completes it without a failed invocation', async () => {
    // Prepare: two fleets in two target groups; the SDK tries each call twice.
    stack = await startLocalStack({ delivery: 'queue', env: { ...process.env, AWS_MAX_ATTEMPTS: '2' } });
    clients = {
      ec2: new EC2Client(stack.cloud.clientConfig()),
      elbv2: new ElasticLoadBalancingV2Client(stack.cloud.clientConfig()),
    };
    const web = await launchFleet(stack, clients, { name: 'web', size: 1 });
    const api = await launchFleet(stack, clients, { name: 'api', size: 1 });
    const [webInstance] = web.instanceIds;
    const [apiInstance] = api.instanceIds;
    // Every attempt to launch the api instance's replacement (from its launch template) is throttled.
    stack.cloud.injectFault('RunInstances', 'RequestLimitExceeded', 2, (params) =>
      Object.values(params).includes(api.launchTemplateId),
    );

    // Act: both warnings within the batching window, so in one batch.
    stack.cloud.interrupt(webInstance!);
    stack.cloud.interrupt(apiInstance!);
    const s = stack;
    const completed = async (instanceId: string) =>
      (await s.store.get(workflowIdFor(instanceId)))?.status === 'completed';
    const interruption = () => s.deliveries.filter((d) => d.functionName === 'interruption');
    const deliveriesOf = (instanceId: string) =>
      interruption().filter((d) => d.event.detail['instance-id'] === instanceId);
    await runUntil(
      s,
      async () =>
        deliveriesOf(apiInstance!).some((d) => d.ok) &&
        (await completed(webInstance!)) &&
        (await completed(apiInstance!)),
      5 * 60_000,
      'the api warning delivered again, and both handoffs',
    );

    // Assess: what exists afterwards.
    const apiDeliveries = deliveriesOf(apiInstance!);
    const webDeliveries = deliveriesOf(webInstance!);
    expect(webDeliveries.map((d) => d.ok)).toEqual([true]);
    expect(apiDeliveries.map((d) => d.ok)).toEqual([false, true]);
    // The first api delivery and the web one came in one batch, whose invocation returned.
    expect(apiDeliveries[0]!.result).toBe(webDeliveries[0]!.result);
    expect(interruption().every((d) => d.result !== undefined)).toBe(true);
    expect(s.bus.deadLetters).toEqual([]);
    for (const [instanceId, fleet] of [
      [webInstance!, web],
      [apiInstance!, api],
    ] as const) {
      const workflow = await s.store.get(workflowIdFor(instanceId));
      expect(workflow).toMatchObject({ status: 'completed', drained: true });
      const replacement = workflow!.replacement!.instanceId!;
      expect(s.cloud.ec2.instance(replacement)?.tags['spot-handoff:replaces']).toBe(instanceId);
      const targets = s.cloud.elbv2.targetGroupOf(fleet.targetGroupArn)?.targets ?? [];
      expect(targets.map((t) => t.id)).toContain(replacement);
      expect(targets.find((t) => t.id === instanceId)?.state ?? 'gone').not.toBe('healthy');
    }
  });
});
