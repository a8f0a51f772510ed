import { describe, expect, it } from 'vitest';
import { handOff } from '../../src/core/handoff.ts';
import { sweepOpenWorkflows } from '../../src/core/sweep.ts';
import { fakeWorld } from '../support/fakes.ts';
import { warning } from '../support/signals.ts';

describe('the sweep', () => {
  it('advances every open workflow, not only the newest 100, oldest first, page by page', async () => {
    const world = fakeWorld();
    const olds = Array.from({ length: 130 }, () => world.ec2.add({ tags: {} }));
    for (const old of olds) {
      await handOff([warning(old.instanceId)], world.deps);
      world.clock.advance(1_000);
    }
    for (const old of olds) {
      const [replacement] = world.ec2.replacementsOf(old.instanceId);
      world.ec2.setState(replacement!.instanceId, 'running');
    }

    const outcomes = await sweepOpenWorkflows(world.deps, { pageSize: 25 });

    expect(world.metrics.counts.get('WorkflowsSwept')).toBe(130);
    expect(outcomes.map((o) => o.instanceId)).toEqual(olds.map((o) => o.instanceId));
    // Each one saw its replacement run: the sweep advanced it.
    for (const old of olds) {
      const workflow = await world.store.get(`wf-${old.instanceId}`);
      expect(workflow?.replacement?.state, old.instanceId).toBe('running');
    }
  });

  it("reads a page's replacements together: one describe of the old instances, one of the replacements", async () => {
    const world = fakeWorld();
    const olds = Array.from({ length: 50 }, () => world.ec2.add({ tags: {} }));
    for (const old of olds) await handOff([warning(old.instanceId)], world.deps);
    for (const old of olds) {
      const [replacement] = world.ec2.replacementsOf(old.instanceId);
      world.ec2.setState(replacement!.instanceId, 'running');
    }
    const described: string[][] = [];
    const describe = world.ec2.describeInstances.bind(world.ec2);
    world.ec2.describeInstances = (ids: readonly string[]) => {
      if (ids.length > 0) described.push([...ids]);
      return describe(ids);
    };

    await sweepOpenWorkflows(world.deps, { pageSize: 25 });

    // Two pages: each described its 25 old instances, then its 25 replacements, in one read each.
    expect(described.map((ids) => ids.length)).toEqual([25, 25, 25, 25]);
    for (const old of olds) {
      const workflow = await world.store.get(`wf-${old.instanceId}`);
      expect(workflow?.replacement?.state, old.instanceId).toBe('running');
    }
  });

  it('starts no page without time left in the invocation: the next sweep continues', async () => {
    const world = fakeWorld();
    const old = world.ec2.add({ tags: {} });
    await handOff([warning(old.instanceId)], world.deps);
    const before = await world.store.get(`wf-${old.instanceId}`);

    const outcomes = await sweepOpenWorkflows(world.deps, { remainingMs: () => 5_000 });

    expect(outcomes).toEqual([]);
    expect(world.metrics.counts.get('WorkflowsSwept') ?? 0).toBe(0);
    expect(await world.store.get(`wf-${old.instanceId}`)).toEqual(before);
  });
});
