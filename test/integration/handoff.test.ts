import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { RegisterTargetsCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterEach, describe, expect, it } from 'vitest';
import { ec2Event, type FleetWorld, fleetWorld } from '../support/local.ts';

/**
 * The whole handoff through the local cloud (EC2 + ELBv2 over HTTP), dynalite and the real Lambda
 * handlers, with events routed by the patterns in serverless.yml.
 */

const WARNING = 'EC2 Spot Instance Interruption Warning';

let world: FleetWorld;
afterEach(async () => {
  await world?.stop();
});

describe('an interrupted managed instance', () => {
  it('is drained, replaced in its subnet, and the replacement serves in its target group', async () => {
    world = await fleetWorld();
    const [victim, ...others] = world.fleet.instanceIds;
    const subnet = world.instances().find((i) => i.instanceId === victim)!.subnetId;

    world.stack.cloud.interrupt(victim!);
    await world.until(async () => (await world.workflowOf(victim!))?.status === 'completed', 'the handoff');
    await world.until(
      () => world.instances().find((i) => i.instanceId === victim)?.state === 'terminated',
      'EC2 to terminate the old instance',
    );
    await world.pass(40_000); // the 30 s deregistration delay, and health checks

    const [replacement] = world.replacementsOf(victim!);
    expect(world.replacementsOf(victim!)).toHaveLength(1);
    expect(replacement).toMatchObject({ state: 'running', subnetId: subnet });
    expect(replacement!.tags).toMatchObject({ 'spot-handoff:managed': 'true', app: 'web' });
    const targets = world.targets();
    expect(targets.map((t) => t.id).sort()).toEqual([...others, replacement!.instanceId].sort());
    expect(targets.every((t) => t.state === 'healthy')).toBe(true);
    expect(await world.workflowOf(victim!)).toMatchObject({
      status: 'completed',
      outcome: 'replaced',
      drained: true,
      oldInstanceState: 'terminated',
      replacement: { instanceId: replacement!.instanceId },
    });
    expect(world.stack.bus.deadLetters).toEqual([]);
  });

  it('gets one replacement however often its warning is delivered', async () => {
    world = await fleetWorld();
    const victim = world.fleet.instanceIds[0]!;
    const event = ec2Event(WARNING, { 'instance-id': victim, 'instance-action': 'terminate' });

    world.stack.bus.put(event);
    world.stack.bus.put(event);
    const other = ec2Event(WARNING, { 'instance-id': victim, 'instance-action': 'terminate' });
    world.stack.bus.put(other);
    await world.pass(15_000);
    world.stack.bus.put(event);
    await world.pass(5_000);

    expect(world.replacementsOf(victim)).toHaveLength(1);
    const workflow = await world.workflowOf(victim);
    expect(workflow).toMatchObject({ status: 'completed', outcome: 'replaced' });
    expect(workflow!.eventIds).toEqual(expect.arrayContaining([event.id, other.id]));
    expect(new Set(workflow!.eventIds).size).toBe(workflow!.eventIds.length);
  });

  it('that was only recommended for rebalancing gets a replacement beside it, drained only at the warning', async () => {
    world = await fleetWorld();
    const victim = world.fleet.instanceIds[0]!;

    world.stack.cloud.interrupt(victim, { rebalance: true, rebalanceLeadMs: 60_000 });
    await world.until(
      async () => (await world.workflowOf(victim))?.status === 'standby',
      'the pre-launched replacement',
    );
    expect(world.targets().map((t) => t.id)).toContain(victim);

    await world.until(
      async () => (await world.workflowOf(victim))?.status === 'completed',
      'the warning to drain it',
    );
    const [replacement] = world.replacementsOf(victim);
    expect(world.replacementsOf(victim)).toHaveLength(1);
    await world.pass(40_000);
    expect(world.targets().map((t) => t.id)).not.toContain(victim);
    expect(world.targets().map((t) => t.id)).toContain(replacement!.instanceId);
  });
});

describe('what the handoff leaves alone', () => {
  it('an instance without the managed tag: nothing changes, nothing is recorded', async () => {
    world = await fleetWorld();
    const launched = await world.ec2.send(
      new RunInstancesCommand({
        MinCount: 1,
        MaxCount: 1,
        LaunchTemplate: { LaunchTemplateId: world.fleet.launchTemplateId, Version: '$Latest' },
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'not-ours' }] }],
      }),
    );
    const stranger = launched.Instances![0]!.InstanceId!;
    await world.pass(10_000);
    await world.elbv2.send(
      new RegisterTargetsCommand({
        TargetGroupArn: world.fleet.targetGroupArn,
        Targets: [{ Id: stranger, Port: 80 }],
      }),
    );
    const before = world.instances();

    world.stack.bus.put(ec2Event(WARNING, { 'instance-id': stranger, 'instance-action': 'terminate' }));
    await world.pass(20_000);

    expect(world.instances().length).toBe(before.length);
    expect(world.targets().map((t) => t.id)).toContain(stranger);
    expect(await world.workflowOf(stranger)).toBeUndefined();
  });

  it('a malformed event: the invocation fails naming the field, is retried, dead-lettered, and nothing changes', async () => {
    world = await fleetWorld();
    const victim = world.fleet.instanceIds[0]!;
    const before = world.instances();

    world.stack.bus.put(ec2Event(WARNING, { 'instance-id': victim, 'instance-action': 'explode' }));
    await world.pass(4 * 60_000);

    const [dead] = world.stack.bus.deadLetters;
    expect(world.stack.bus.deadLetters).toHaveLength(1);
    expect(dead).toMatchObject({ functionName: 'interruption', attempt: 3 });
    expect(dead!.error!.message).toContain('detail.instance-action');
    expect(world.instances().length).toBe(before.length);
    expect(world.targets().map((t) => t.id)).toContain(victim);
    expect(await world.workflowOf(victim)).toBeUndefined();
  });

  it('an instance EC2 does not know: nothing recorded, not a crash', async () => {
    world = await fleetWorld();

    world.stack.bus.put(
      ec2Event(WARNING, { 'instance-id': 'i-0123456789abcdef0', 'instance-action': 'terminate' }),
    );
    await world.pass(2_000);

    expect(await world.workflowOf('i-0123456789abcdef0')).toBeUndefined();
    expect(await world.stack.store.list()).toEqual([]);
    expect(world.stack.bus.deadLetters).toEqual([]);
    expect(world.instances().length).toBe(world.fleet.instanceIds.length);
  });

  it('an event of a kind we do not handle is a no-op', async () => {
    world = await fleetWorld();
    const before = world.instances();

    world.stack.bus.put({
      ...ec2Event('EC2 Instance State-change Notification', {
        'instance-id': world.fleet.instanceIds[0],
        state: 'running',
      }),
    });
    await world.pass(2_000);

    expect(world.stack.bus.deadLetters).toEqual([]);
    expect(world.stack.deliveries.at(-1)).toMatchObject({ ok: true });
    expect(world.instances().length).toBe(before.length);
    expect(await world.workflowOf(world.fleet.instanceIds[0]!)).toBeUndefined();
  });
});

describe('out-of-order delivery', () => {
  it('a Spot termination seen before its warning starts the handoff; the late warning converges', async () => {
    world = await fleetWorld();
    const victim = world.fleet.instanceIds[0]!;
    // EC2's own warning is lost: only the state changes reach us, then a late copy of the warning.
    world.stack.deliverIf = (event) => event['detail-type'] !== WARNING;
    world.stack.cloud.interrupt(victim);
    await world.until(async () => (await world.workflowOf(victim))?.status === 'completed', 'the handoff');
    world.stack.bus.put(
      ec2Event(WARNING, { 'instance-id': victim, 'instance-action': 'terminate' }, { id: 'late-copy' }),
    );
    await world.pass(10_000);

    expect(world.replacementsOf(victim)).toHaveLength(1);
    expect((await world.workflowOf(victim))!.eventIds).toContain('late-copy');
  });
});
