import { describe, expect, it } from 'vitest';
import { handOff } from '../../src/core/handoff.ts';
import { sweepOpenWorkflows } from '../../src/core/sweep.ts';
import { type FakeWorld, fakeWorld } from '../support/fakes.ts';
import { stateChange, warning } from '../support/signals.ts';

/** A replacement that is itself a Spot instance, warned in turn (fake EC2 and ELB). */

const TG = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef';

function servingInstance(world: FakeWorld) {
  world.elb.addGroup(TG);
  const old = world.ec2.add();
  world.elb.groups.get(TG)!.registrations.push({
    target: { targetGroupArn: TG, targetType: 'instance', id: old.instanceId, port: 80 },
    state: 'healthy',
  });
  return old;
}

/** EC2 brings up the one replacement of `oldId` and reports it; its id. */
async function replacementRuns(world: FakeWorld, oldId: string): Promise<string> {
  const replacements = world.ec2.replacementsOf(oldId);
  expect(replacements).toHaveLength(1);
  const id = replacements[0]!.instanceId;
  world.ec2.setState(id, 'running');
  await handOff([stateChange(id, 'running')], world.deps);
  return id;
}

/** A warned, replaced by B, registered and completed; B's id. */
async function replacedOnce(world: FakeWorld, a: string): Promise<string> {
  await handOff([warning(a)], world.deps);
  const b = await replacementRuns(world, a);
  expect(await world.store.get(`wf-${a}`)).toMatchObject({ status: 'completed', outcome: 'replaced' });
  expect(world.elb.serving(TG)).toEqual([b]);
  return b;
}

describe('a replacement warned after the workflow that launched it finished', () => {
  it('is drained and replaced by its own workflow; the first workflow is left as it was', async () => {
    const world = fakeWorld();
    const a = servingInstance(world).instanceId;
    const b = await replacedOnce(world, a);
    const parentBefore = await world.store.get(`wf-${a}`);

    await handOff([warning(b)], world.deps);

    expect(world.elb.serving(TG)).toEqual([]);
    const c = await replacementRuns(world, b);
    expect(world.elb.serving(TG)).toEqual([c]);
    expect(world.ec2.instances.get(c)!.tags).toMatchObject({
      'spot-handoff:replaces': b,
      'spot-handoff:workflow': `wf-${b}`,
    });
    expect(await world.store.get(`wf-${b}`)).toMatchObject({
      status: 'completed',
      outcome: 'replaced',
      drained: true,
      replacement: { instanceId: c },
      parent: { workflowId: `wf-${a}` },
    });
    expect(await world.store.get(`wf-${a}`)).toEqual(parentBefore);
    expect(world.ec2.replacementsOf(a)).toEqual([expect.objectContaining({ instanceId: b })]);
  });

  it('gets one replacement however often its warning comes, in one batch or apart', async () => {
    const world = fakeWorld();
    const a = servingInstance(world).instanceId;
    const b = await replacedOnce(world, a);

    const first = warning(b);
    await handOff([first, first, warning(b)], world.deps);
    await handOff([warning(b)], world.deps);
    await sweepOpenWorkflows(world.deps);
    await handOff([first], world.deps);

    expect(world.ec2.replacementsOf(b)).toHaveLength(1);
    const c = await replacementRuns(world, b);
    await handOff([warning(b)], world.deps);
    expect(world.ec2.replacementsOf(b)).toHaveLength(1);
    expect(world.elb.serving(TG)).toEqual([c]);
  });

  it('a state change showing its Spot reclaim starts its own workflow too (the warning lost)', async () => {
    const world = fakeWorld();
    const a = servingInstance(world).instanceId;
    const b = await replacedOnce(world, a);

    world.ec2.setState(b, 'shutting-down', 'Server.SpotInstanceTermination');
    await handOff([stateChange(b, 'shutting-down')], world.deps);

    expect(world.elb.serving(TG)).toEqual([]);
    const c = await replacementRuns(world, b);
    expect(world.elb.serving(TG)).toEqual([c]);
  });

  it('its plain state changes still go to the workflow that launched it', async () => {
    const world = fakeWorld();
    const a = servingInstance(world).instanceId;
    const b = await replacedOnce(world, a);

    world.ec2.setState(b, 'stopped');
    await handOff([stateChange(b, 'stopped')], world.deps);

    expect(await world.store.get(`wf-${b}`)).toBeUndefined();
    expect(world.ec2.replacementsOf(b)).toHaveLength(0);
  });
});

describe('a replacement warned while the workflow that launched it is still open', () => {
  it('is not registered; its own workflow waits, then replaces it where the first one served', async () => {
    const world = fakeWorld();
    const a = servingInstance(world).instanceId;
    await handOff([warning(a)], world.deps);
    const [pending] = world.ec2.replacementsOf(a);
    const b = pending!.instanceId;

    // B is warned before it runs: its own workflow is recorded, and launches nothing yet.
    await handOff([warning(b)], world.deps);
    expect(await world.store.get(`wf-${b}`)).toMatchObject({ status: 'in-progress' });
    expect(world.ec2.replacementsOf(b)).toHaveLength(0);

    // B runs: the first workflow finishes without registering it.
    world.ec2.setState(b, 'running');
    await handOff([stateChange(b, 'running')], world.deps);
    expect(world.elb.serving(TG)).toEqual([]);
    expect(await world.store.get(`wf-${a}`)).toMatchObject({
      status: 'completed',
      replacement: { instanceId: b, reclaimedBy: `wf-${b}` },
    });

    // The sweep releases B's workflow: C is launched and registered where A served.
    await sweepOpenWorkflows(world.deps);
    await sweepOpenWorkflows(world.deps);
    const c = await replacementRuns(world, b);
    expect(world.elb.serving(TG)).toEqual([c]);
    expect(world.ec2.replacementsOf(a)).toHaveLength(1);
    expect(world.ec2.replacementsOf(b)).toHaveLength(1);
    expect(await world.store.get(`wf-${b}`)).toMatchObject({ status: 'completed', outcome: 'replaced' });
  });

  it('reclaimed before it ever ran: its own workflow is released and serves where the first one meant it to', async () => {
    const world = fakeWorld();
    const a = servingInstance(world).instanceId;
    await handOff([warning(a)], world.deps);
    const b = world.ec2.replacementsOf(a)[0]!.instanceId;
    await handOff([warning(b)], world.deps);
    expect(world.ec2.replacementsOf(b)).toHaveLength(0);

    // EC2 takes B back before it ran: the first workflow can do nothing more with it.
    world.ec2.setState(b, 'shutting-down', 'Server.SpotInstanceTermination');
    await handOff([stateChange(b, 'shutting-down')], world.deps);
    await sweepOpenWorkflows(world.deps);

    const c = await replacementRuns(world, b);
    expect(world.elb.serving(TG)).toEqual([c]);
    expect(world.ec2.replacementsOf(a)).toHaveLength(1);
    expect(await world.store.get(`wf-${b}`)).toMatchObject({ status: 'completed', outcome: 'replaced' });
  });
});
