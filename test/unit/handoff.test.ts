import { describe, expect, it } from 'vitest';
import { DEFAULT_CAREFUL_POLICY } from '../../src/core/group-policy.ts';
import { handOff, ReplacementNotLaunchedError } from '../../src/core/handoff.ts';
import { sweepOpenWorkflows } from '../../src/core/sweep.ts';
import { type FakeWorld, fakeWorld } from '../support/fakes.ts';
import { rebalance, stateChange, warning } from '../support/signals.ts';

const TG = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef';
const IP_TG = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/pods/0123456789abcdef';

/** A managed Spot instance serving in one target group on port 80. */
function servingInstance(world: FakeWorld, tags: Record<string, string> = {}) {
  world.elb.addGroup(TG);
  const old = world.ec2.add({ tags });
  world.elb.groups.get(TG)!.registrations.push({
    target: { targetGroupArn: TG, targetType: 'instance', id: old.instanceId, port: 80 },
    state: 'healthy',
  });
  return old;
}

/** EC2 brings the replacement up and reports it. */
async function replacementRuns(world: FakeWorld, oldId: string) {
  const [replacement] = world.ec2.replacementsOf(oldId);
  world.ec2.setState(replacement!.instanceId, 'running');
  await handOff([stateChange(replacement!.instanceId, 'running')], world.deps);
  return replacement!.instanceId;
}

describe('a Spot interruption warning', () => {
  it('drains the instance and launches one replacement, then registers it once it runs', async () => {
    // Prepare
    const world = fakeWorld();
    const old = servingInstance(world);

    // Act
    await handOff([warning(old.instanceId)], world.deps);

    // Assess: drained, one replacement pending from the same template and subnet, tagged back
    expect(world.elb.serving(TG)).toEqual([]);
    const replacements = world.ec2.replacementsOf(old.instanceId);
    expect(replacements).toHaveLength(1);
    expect(replacements[0]).toMatchObject({
      state: 'pending',
      subnetId: old.subnetId,
      launchTemplate: old.launchTemplate,
      tags: expect.objectContaining({ Name: 'web', 'spot-handoff:managed': 'true' }),
    });
    const workflow = (await world.store.get(`wf-${old.instanceId}`))!;
    expect(workflow).toMatchObject({
      status: 'in-progress',
      drained: true,
      targets: [{ id: old.instanceId, port: 80 }],
    });

    const replacementId = await replacementRuns(world, old.instanceId);

    expect(world.elb.serving(TG)).toEqual([replacementId]);
    const done = (await world.store.get(`wf-${old.instanceId}`))!;
    expect(done).toMatchObject({
      status: 'completed',
      outcome: 'replaced',
      replacement: { instanceId: replacementId },
    });
    expect(done.steps.map((s) => s.name)).toEqual(
      expect.arrayContaining([
        'detected',
        'targets-found',
        'drain',
        'launch',
        'replacement-running',
        'register',
        'completed',
      ]),
    );
    expect(done.expiresAt).toBeGreaterThan(Date.parse(done.finishedAt!) / 1000);
    expect(await world.store.workflowOfReplacement(replacementId)).toBe(done.workflowId);
  });

  it('converges duplicate and concurrent warnings on one workflow with one replacement', async () => {
    const world = fakeWorld();
    const old = servingInstance(world);
    const event = warning(old.instanceId);

    await Promise.all([
      handOff([event], world.deps),
      handOff([event], world.deps),
      handOff([warning(old.instanceId)], world.deps),
    ]);
    await handOff([event], world.deps);

    expect(world.ec2.replacementsOf(old.instanceId)).toHaveLength(1);
    expect(world.store.items.size).toBe(1);
    expect((await world.store.get(`wf-${old.instanceId}`))!.eventIds).toHaveLength(2);
  });

  it('leaves an instance without the managed tag alone and records nothing', async () => {
    const world = fakeWorld();
    const old = world.ec2.add({ tags: { 'spot-handoff:managed': 'false' } });
    world.elb.addGroup(TG);
    world.elb.groups.get(TG)!.registrations.push({
      target: { targetGroupArn: TG, targetType: 'instance', id: old.instanceId, port: 80 },
      state: 'healthy',
    });

    const [outcome] = await handOff([warning(old.instanceId)], world.deps);

    expect(outcome).toMatchObject({ result: 'unmanaged' });
    expect(world.elb.serving(TG)).toEqual([old.instanceId]);
    expect(world.ec2.instances.size).toBe(1);
    expect(world.store.items.size).toBe(0);
  });

  it('honours a configured managed tag key', async () => {
    const world = fakeWorld({ tags: { managed: 'team:spot' } });
    const old = servingInstance(world, { 'team:spot': 'true', 'spot-handoff:managed': 'no' });

    await handOff([warning(old.instanceId)], world.deps);

    expect(world.ec2.replacementsOf(old.instanceId)).toHaveLength(1);
  });

  it('records nothing for an instance EC2 does not know, without failing, and counts it', async () => {
    const world = fakeWorld();

    const [outcome] = await handOff([warning('i-0000000000000dead')], world.deps);

    expect(outcome).toMatchObject({ result: 'no-op' });
    expect(await world.store.get('wf-i-0000000000000dead')).toBeUndefined();
    expect(world.ec2.instances.size).toBe(0);
    expect(world.metrics.counts.get('UnknownInstanceEvents')).toBe(1);
  });

  it('drains but does not replace an instance without a launch template, and says why', async () => {
    const world = fakeWorld();
    const old = servingInstance(world);
    world.ec2.instances.get(old.instanceId)!.launchTemplate = undefined;

    await handOff([warning(old.instanceId)], world.deps);

    expect(world.elb.serving(TG)).toEqual([]);
    expect(world.ec2.replacementsOf(old.instanceId)).toHaveLength(0);
    expect(await world.store.get(`wf-${old.instanceId}`)).toMatchObject({
      status: 'completed',
      outcome: 'not-replaceable',
      reason: expect.stringContaining('launch template'),
    });
  });

  it('drains an Auto Scaling group member and leaves the replacement to the group', async () => {
    const world = fakeWorld();
    const old = servingInstance(world, { 'aws:autoscaling:groupName': 'web-asg' });

    await handOff([warning(old.instanceId)], world.deps);

    expect(world.elb.serving(TG)).toEqual([]);
    expect(world.ec2.replacementsOf(old.instanceId)).toHaveLength(0);
    expect(await world.store.get(`wf-${old.instanceId}`)).toMatchObject({
      status: 'completed',
      outcome: 'asg-managed',
    });
  });

  it('moves ip targets of the old primary IP to the replacement primary IP', async () => {
    const world = fakeWorld();
    world.elb.addGroup(IP_TG, 'ip');
    const old = world.ec2.add();
    world.elb.groups.get(IP_TG)!.registrations.push({
      target: { targetGroupArn: IP_TG, targetType: 'ip', id: old.privateIpAddress!, port: 8080 },
      state: 'healthy',
    });

    await handOff([warning(old.instanceId)], world.deps);
    const replacementId = await replacementRuns(world, old.instanceId);

    const replacementIp = world.ec2.instances.get(replacementId)!.privateIpAddress!;
    expect(world.elb.serving(IP_TG)).toEqual([replacementIp]);
  });

  it('records a launch without capacity, fails the invocation for a retry, and launches when capacity returns', async () => {
    const world = fakeWorld();
    const old = servingInstance(world);
    world.ec2.noCapacity = true;

    await expect(handOff([warning(old.instanceId)], world.deps)).rejects.toBeInstanceOf(
      ReplacementNotLaunchedError,
    );
    const failed = (await world.store.get(`wf-${old.instanceId}`))!;
    expect(failed).toMatchObject({ status: 'in-progress', drained: true, replacement: { attempt: 2 } });
    expect(failed.replacement?.lastError?.code).toBe('InsufficientInstanceCapacity');
    expect(world.elb.serving(TG)).toEqual([]);

    world.ec2.noCapacity = false;
    await handOff([warning(old.instanceId)], world.deps);

    expect(world.ec2.replacementsOf(old.instanceId)).toHaveLength(1);
  });
});

describe('a rebalance recommendation', () => {
  it('pre-launches and registers the replacement without draining; the warning then only drains', async () => {
    const world = fakeWorld();
    const old = servingInstance(world);

    await handOff([rebalance(old.instanceId)], world.deps);
    const replacementId = await replacementRuns(world, old.instanceId);

    expect(world.elb.serving(TG).sort()).toEqual([old.instanceId, replacementId].sort());
    expect(await world.store.get(`wf-${old.instanceId}`)).toMatchObject({
      status: 'standby',
      drained: false,
    });

    await handOff([warning(old.instanceId)], world.deps);

    expect(world.elb.serving(TG)).toEqual([replacementId]);
    expect(world.ec2.replacementsOf(old.instanceId)).toHaveLength(1);
    expect(await world.store.get(`wf-${old.instanceId}`)).toMatchObject({
      status: 'completed',
      outcome: 'replaced',
    });
  });

  it('is ignored when configured so', async () => {
    const world = fakeWorld({
      policies: { groups: {}, ungrouped: { ...DEFAULT_CAREFUL_POLICY, rebalance: 'ignore' } },
    });
    const old = servingInstance(world);

    await handOff([rebalance(old.instanceId)], world.deps);

    expect(world.ec2.replacementsOf(old.instanceId)).toHaveLength(0);
    expect(world.store.items.size).toBe(0);
  });
});

describe('state changes', () => {
  it('start the handoff when the Spot termination comes before its warning, and the late warning converges', async () => {
    const world = fakeWorld();
    const old = servingInstance(world);
    world.ec2.setState(old.instanceId, 'shutting-down', 'Server.SpotInstanceTermination');

    await handOff([stateChange(old.instanceId, 'shutting-down')], world.deps);
    await handOff([warning(old.instanceId)], world.deps);
    const replacementId = await replacementRuns(world, old.instanceId);

    expect(world.ec2.replacementsOf(old.instanceId)).toHaveLength(1);
    expect(world.elb.serving(TG)).toEqual([replacementId]);
    expect(await world.store.get(`wf-${old.instanceId}`)).toMatchObject({
      status: 'completed',
      outcome: 'replaced',
    });
  });

  it('of an instance terminated by a person start nothing', async () => {
    const world = fakeWorld();
    const old = servingInstance(world);
    world.ec2.setState(old.instanceId, 'terminated', 'Client.UserInitiatedShutdown');

    const [outcome] = await handOff([stateChange(old.instanceId, 'terminated')], world.deps);

    expect(outcome).toMatchObject({ result: 'no-op' });
    expect(world.store.items.size).toBe(0);
  });

  it('record the old instance terminating on its workflow', async () => {
    const world = fakeWorld();
    const old = servingInstance(world);
    await handOff([warning(old.instanceId)], world.deps);
    await replacementRuns(world, old.instanceId);

    world.ec2.setState(old.instanceId, 'terminated', 'Server.SpotInstanceTermination');
    await handOff([stateChange(old.instanceId, 'terminated')], world.deps);

    const workflow = (await world.store.get(`wf-${old.instanceId}`))!;
    expect(workflow.oldInstanceState).toBe('terminated');
    expect(workflow.steps.at(-1)).toMatchObject({
      name: 'old-instance-stopped',
      detail: 'old instance terminated',
    });
  });

  it('a replacement running event that comes before its launch was recorded still registers it', async () => {
    const world = fakeWorld();
    const old = servingInstance(world);
    // A first invocation launched the replacement and crashed before recording it (writes: the new
    // record, the targets found, then the launch — which never lands).
    world.store.crashAfterWrites = 2;
    await expect(handOff([warning(old.instanceId)], world.deps)).rejects.toThrow('simulated crash');
    const [replacement] = world.ec2.replacementsOf(old.instanceId);
    world.ec2.setState(replacement!.instanceId, 'running');

    // Its running event and the retried warning come together.
    await handOff([stateChange(replacement!.instanceId, 'running'), warning(old.instanceId)], world.deps);

    expect(world.ec2.replacementsOf(old.instanceId)).toHaveLength(1);
    expect(world.elb.serving(TG)).toEqual([replacement!.instanceId]);
  });
});

describe('several failures in one invocation', () => {
  it('are reported together, none dropped; every workflow is recorded and the retry completes them', async () => {
    const world = fakeWorld();
    const first = servingInstance(world);
    const second = world.ec2.add({});
    world.ec2.failures = 2;

    const failure = await handOff([warning(first.instanceId), warning(second.instanceId)], world.deps).catch(
      (error: unknown) => error,
    );

    expect(failure).toBeInstanceOf(AggregateError);
    expect((failure as AggregateError).errors.map((e: Error) => e.name)).toEqual([
      'InternalError',
      'InternalError',
    ]);
    expect(await world.store.get(`wf-${first.instanceId}`)).toMatchObject({ status: 'in-progress' });
    expect(await world.store.get(`wf-${second.instanceId}`)).toMatchObject({ status: 'in-progress' });
    // The retry launches both, once each.
    await handOff([warning(first.instanceId), warning(second.instanceId)], world.deps);
    expect(world.ec2.replacementsOf(first.instanceId)).toHaveLength(1);
    expect(world.ec2.replacementsOf(second.instanceId)).toHaveLength(1);
  });

  it('a batch whose replacements found no capacity names each of them', async () => {
    const world = fakeWorld();
    const first = servingInstance(world);
    const second = world.ec2.add({});
    world.ec2.noCapacity = true;

    const failure = await handOff([warning(first.instanceId), warning(second.instanceId)], world.deps).catch(
      (error: unknown) => error,
    );

    expect(failure).toBeInstanceOf(AggregateError);
    const errors = (failure as AggregateError).errors;
    expect(errors.every((e) => e instanceof ReplacementNotLaunchedError)).toBe(true);
    expect((failure as Error).message).toContain(first.instanceId);
    expect((failure as Error).message).toContain(second.instanceId);
  });
});

describe('a Spot stop seen before its warning', () => {
  it('starts the handoff too (EC2 reports Server.SpotInstanceShutdown)', async () => {
    const world = fakeWorld();
    const old = servingInstance(world);
    world.ec2.setState(old.instanceId, 'stopped', 'Server.SpotInstanceShutdown');

    await handOff([stateChange(old.instanceId, 'stopped')], world.deps);

    expect(world.ec2.replacementsOf(old.instanceId)).toHaveLength(1);
    expect(world.elb.serving(TG)).toEqual([]);
  });
});

describe('deadlines', () => {
  it('drain and launch are due when EC2 reclaims the instance; registration within the handover timeout of its stop', async () => {
    const world = fakeWorld();
    const old = servingInstance(world);

    await handOff([warning(old.instanceId)], world.deps);
    world.ec2.setState(old.instanceId, 'terminated', 'Server.SpotInstanceTermination');
    await handOff([stateChange(old.instanceId, 'terminated')], world.deps);
    world.clock.advance(11 * 60_000); // the replacement is slow to run: past the 10-minute handover timeout
    await replacementRuns(world, old.instanceId);

    const workflow = (await world.store.get(`wf-${old.instanceId}`))!;
    const step = (name: string) => workflow.steps.find((s) => s.name === name)!;
    expect(step('drain')).toMatchObject({ deadline: '2026-01-01T12:02:00.000Z' });
    expect(step('drain').late).toBeUndefined();
    expect(step('launch')).toMatchObject({ deadline: '2026-01-01T12:02:00.000Z' });
    expect(step('register')).toMatchObject({ deadline: '2026-01-01T12:10:00.000Z', late: true });
    expect(world.metrics.counts.get('StepsLate')).toBe(1);
  });

  it('a workflow past a deadline is reported overdue by the sweep', async () => {
    const world = fakeWorld();
    const old = servingInstance(world);
    world.ec2.noCapacity = true;
    await expect(handOff([warning(old.instanceId)], world.deps)).rejects.toBeInstanceOf(
      ReplacementNotLaunchedError,
    );

    world.clock.advance(3 * 60_000);
    await sweepOpenWorkflows(world.deps);

    expect(world.metrics.counts.get('OverdueWorkflows')).toBe(1);
  });
});

describe('metrics for the dashboard and the alarms', () => {
  it('times the drain, the launch and the registration from the event, and counts the replacement by capacity type', async () => {
    // Prepare: the warning is handled 4 s after EventBridge stamped it
    const world = fakeWorld();
    const old = servingInstance(world);
    world.clock.advance(4_000);

    // Act
    await handOff([warning(old.instanceId)], world.deps);
    world.clock.advance(30_000);
    await replacementRuns(world, old.instanceId);

    // Assess
    const seconds = (name: string) => world.metrics.durations.get(name);
    expect(seconds('EventToDrainSeconds')).toEqual([4]);
    expect(seconds('EventToLaunchSeconds')).toEqual([4]);
    expect(seconds('EventToRegistrationSeconds')).toEqual([34]);
    expect(world.metrics.counts.get('SpotReplacementsLaunched')).toBe(1);
    expect(world.metrics.counts.get('OnDemandReplacementsLaunched')).toBeUndefined();
    expect(world.metrics.counts.get('DrainsLate')).toBeUndefined();
    expect(world.metrics.counts.get('WorkflowsFailed')).toBeUndefined();
  });

  it('counts a drain made after EC2 reclaimed the instance as late', async () => {
    const world = fakeWorld();
    const old = servingInstance(world);
    world.clock.advance(3 * 60_000); // the warning arrives a minute after its deadline

    await handOff([warning(old.instanceId)], world.deps);

    expect(world.metrics.counts.get('DrainsLate')).toBe(1);
  });

  it('counts a handoff failed once when its replacement does not serve by the handover deadline', async () => {
    // Prepare: the old instance is gone and the replacement never runs
    const world = fakeWorld();
    const old = servingInstance(world);
    await handOff([warning(old.instanceId)], world.deps);
    world.ec2.setState(old.instanceId, 'terminated', 'Server.SpotInstanceTermination');
    await handOff([stateChange(old.instanceId, 'terminated')], world.deps);

    // Act: sweeps before and after the deadline
    world.clock.advance(5 * 60_000);
    await sweepOpenWorkflows(world.deps);
    const before = world.metrics.counts.get('WorkflowsFailed');
    world.clock.advance(6 * 60_000);
    await sweepOpenWorkflows(world.deps);
    await sweepOpenWorkflows(world.deps);

    // Assess
    expect(before).toBeUndefined();
    expect(world.metrics.counts.get('WorkflowsFailed')).toBe(1);
    const workflow = (await world.store.get(`wf-${old.instanceId}`))!;
    expect(workflow.status).toBe('in-progress');
    expect(workflow.steps.filter((s) => s.name === 'register' && s.status === 'failed')).toHaveLength(1);
  });
});

describe('a batch of warnings (EC2 reclaiming a pool)', () => {
  it('shares its load balancer calls: one discovery and one deregistration for the whole batch', async () => {
    const world = fakeWorld();
    world.elb.addGroup(TG);
    const olds = [world.ec2.add(), world.ec2.add(), world.ec2.add()];
    for (const old of olds) {
      world.elb.groups.get(TG)!.registrations.push({
        target: { targetGroupArn: TG, targetType: 'instance', id: old.instanceId, port: 80 },
        state: 'healthy',
      });
    }
    const requests = { findTargets: 0, deregister: 0 };
    const elb = world.elb;
    world.deps.loadBalancing = {
      findTargets: (instances) => {
        requests.findTargets += 1;
        return elb.findTargets(instances);
      },
      deregister: (targets) => {
        requests.deregister += 1;
        return elb.deregister(targets);
      },
      register: (targets) => elb.register(targets),
      targetHealth: (targets) => elb.targetHealth(targets),
      targetGroupHealth: (suffix) => elb.targetGroupHealth(suffix),
    };

    await handOff(
      olds.map((old) => warning(old.instanceId)),
      world.deps,
    );

    expect(world.elb.serving(TG)).toEqual([]);
    expect(requests).toEqual({ findTargets: 1, deregister: 1 });
    for (const old of olds) expect(world.ec2.replacementsOf(old.instanceId)).toHaveLength(1);
    const drain = (await world.store.get(`wf-${olds[0]!.instanceId}`))!.steps.find((s) => s.name === 'drain');
    expect(drain?.detail).toContain('shared by 3 workflows');
  });
});
