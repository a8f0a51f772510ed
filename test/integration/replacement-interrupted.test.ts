import { afterEach, describe, expect, it } from 'vitest';
import { giveState } from '../../localcloud/scenarios/stateful.ts';
import { workflowIdFor } from '../../src/core/workflow.ts';
import { ec2Event, expectStateOn, type FleetWorld, fleetWorld } from '../support/local.ts';

/**
 * A replacement that is itself a Spot instance, interrupted in turn, through the local cloud,
 * dynalite and the real handlers: the second interruption of a pool is handled like the first.
 */

const WARNING = 'EC2 Spot Instance Interruption Warning';
const STATEFUL = { 'spot-handoff:stateful': 'true' };

let world: FleetWorld;
afterEach(async () => {
  await world?.stop();
});

/** Interrupts `instanceId` and waits for its workflow to complete; its one replacement's id. */
async function interruptedAndReplaced(instanceId: string): Promise<string> {
  world.stack.cloud.interrupt(instanceId);
  await world.until(
    async () => (await world.workflowOf(instanceId))?.status === 'completed',
    `the handoff of ${instanceId}`,
    10 * 60_000,
  );
  expect(world.replacementsOf(instanceId)).toHaveLength(1);
  return world.replacementsOf(instanceId)[0]!.instanceId;
}

describe('a replacement interrupted after the workflow that launched it completed', () => {
  it('is drained, replaced and its replacement registered by its own workflow; the first workflow is untouched', async () => {
    world = await fleetWorld();
    const [a, ...others] = world.fleet.instanceIds;
    const b = await interruptedAndReplaced(a!);
    await world.until(
      () => world.instances().find((i) => i.instanceId === a)?.state === 'terminated',
      'EC2 to terminate the first instance',
    );
    await world.pass(40_000);
    expect(world.targets().map((t) => t.id)).toContain(b);
    // A's workflow as it stands once A is gone: B's interruption must leave it as it is.
    const first = await world.workflowOf(a!);

    const c = await interruptedAndReplaced(b);
    await world.until(
      () => world.instances().find((i) => i.instanceId === b)?.state === 'terminated',
      'EC2 to terminate the replacement',
    );
    await world.pass(40_000);

    const targets = world.targets();
    expect(targets.map((t) => t.id).sort()).toEqual([...others, c].sort());
    expect(targets.every((t) => t.state === 'healthy')).toBe(true);
    expect(world.instances().find((i) => i.instanceId === c)).toMatchObject({ state: 'running' });
    expect(await world.workflowOf(b)).toMatchObject({
      status: 'completed',
      outcome: 'replaced',
      drained: true,
      replacement: { instanceId: c },
      parent: { workflowId: workflowIdFor(a!) },
    });
    // The sweep had indexed where B served: its warning drained it at delivery.
    const drain = (await world.workflowOf(b))!.steps.find((s) => s.name === 'drain');
    expect(drain?.detail).toContain('at delivery');
    expect(await world.workflowOf(a!)).toEqual(first);
    expect(world.stack.bus.deadLetters).toEqual([]);
  });

  it('gets one replacement however often its warning is delivered', async () => {
    world = await fleetWorld();
    const a = world.fleet.instanceIds[0]!;
    const b = await interruptedAndReplaced(a);

    const event = ec2Event(WARNING, { 'instance-id': b, 'instance-action': 'terminate' });
    world.stack.bus.put(event);
    world.stack.bus.put(event);
    world.stack.bus.put(ec2Event(WARNING, { 'instance-id': b, 'instance-action': 'terminate' }));
    await world.pass(15_000);
    world.stack.bus.put(event);
    await world.until(async () => (await world.workflowOf(b))?.status === 'completed', 'the second handoff');
    world.stack.bus.put(event);
    await world.pass(65_000); // a sweep too

    expect(world.replacementsOf(b)).toHaveLength(1);
    expect(world.replacementsOf(a)).toHaveLength(1);
    expect(world.targets().map((t) => t.id)).toContain(world.replacementsOf(b)[0]!.instanceId);
    expect(world.targets().map((t) => t.id)).not.toContain(b);
  });
});

describe('a stateful replacement interrupted in turn', () => {
  it('hands the volume, interface, private IP and Elastic IP it received on to its own replacement', async () => {
    world = await fleetWorld({ tags: STATEFUL });
    const a = world.fleet.instanceIds[0]!;
    const state = await giveState(world.ec2, a, world.until);
    await world.pass(5_000);
    const b = await interruptedAndReplaced(a);
    expectStateOn(world, b, state);

    const c = await interruptedAndReplaced(b);

    expectStateOn(world, c, state);
    expect(world.instances().find((i) => i.instanceId === c)!.tags['spot-handoff:state']).toBe('ready');
    const workflow = (await world.workflowOf(b))!;
    expect(workflow.handover!.resources.every((r) => r.status === 'attached')).toBe(true);
    await world.pass(10_000);
    expect(world.targets().map((t) => t.id)).toContain(c);
    expect(world.targets().map((t) => t.id)).not.toContain(b);
    expect(world.stack.bus.deadLetters).toEqual([]);
  });

  it('warned while the first handoff is still open: not registered, nothing lost, one replacement each, the state ends on a registered instance', async () => {
    world = await fleetWorld({ tags: STATEFUL });
    const a = world.fleet.instanceIds[0]!;
    const state = await giveState(world.ec2, a, world.until);
    await world.pass(5_000);

    world.stack.cloud.interrupt(a);
    await world.until(() => world.replacementsOf(a)[0]?.state === 'running', 'the first replacement to run');
    const b = world.replacementsOf(a)[0]!.instanceId;
    expect((await world.workflowOf(a))?.status).toBe('in-progress');
    // EC2 warns B while A's handoff still waits for A to go (it takes B back ten minutes later).
    world.stack.cloud.interrupt(b, { warningLeadMs: 10 * 60_000 });
    await world.until(
      async () => (await world.workflowOf(b))?.status === 'completed',
      'the second handoff',
      20 * 60_000,
    );

    expect(world.replacementsOf(a)).toHaveLength(1);
    expect(world.replacementsOf(b)).toHaveLength(1);
    const c = world.replacementsOf(b)[0]!.instanceId;
    expect(await world.workflowOf(a)).toMatchObject({
      status: 'completed',
      replacement: { instanceId: b, reclaimedBy: workflowIdFor(b) },
      registered: [],
    });
    expectStateOn(world, c, state);
    await world.pass(40_000);
    expect(world.targets().map((t) => t.id)).toContain(c);
    expect(world.targets().map((t) => t.id)).not.toContain(b);
    expect(world.stack.bus.deadLetters).toEqual([]);
  });
});
