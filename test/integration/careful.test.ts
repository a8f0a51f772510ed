import { afterEach, describe, expect, it } from 'vitest';
import { alarmStateChange } from '../../localcloud/scenarios/alarms.ts';
import type { Workflow } from '../../src/core/workflow.ts';
import { ec2Event, type FleetWorld, fleetWorld } from '../support/local.ts';

/**
 * Careful replace through the local cloud (EC2 + ELBv2 over HTTP, dynalite, the real handlers and
 * the bus routing by serverless.yml): the replacement is launched, runs, is registered and healthy
 * in the old instance's target group before the old instance is drained and terminated. Used by
 * the rebalance policy `replace`, the standby's end and alarm-driven healing.
 */

const REBALANCE = 'EC2 Instance Rebalance Recommendation';

let world: FleetWorld;
afterEach(async () => {
  await world?.stop();
});

const stateOf = (instanceId: string) => world.instances().find((i) => i.instanceId === instanceId)?.state;
const completed = (instanceId: string) => async () =>
  (await world.workflowOf(instanceId))?.status === 'completed';

/** When each done step was first recorded, in ms since the workflow started. */
function stepTimes(workflow: Workflow): Record<string, number> {
  const times: Record<string, number> = {};
  for (const step of workflow.steps)
    if (step.status === 'done' && times[step.name] === undefined) times[step.name] = step.elapsedMs;
  return times;
}

/** The careful order: launched → running → registered → healthy → old drained → old terminated. */
function expectCarefulOrder(workflow: Workflow): void {
  const t = stepTimes(workflow);
  const order = ['launch', 'replacement-running', 'register', 'healthy', 'drain', 'terminated-old'];
  for (const name of order) expect(t[name], `step ${name}`).toBeDefined();
  for (let i = 1; i < order.length; i++) expect(t[order[i]!]!).toBeGreaterThanOrEqual(t[order[i - 1]!]!);
  // The old instance left the target group only after the replacement was healthy in it.
  expect(t['drain']!).toBeGreaterThanOrEqual(t['healthy']!);
}

/** After a careful replace: the replacement serves healthy beside the others, the old instance is gone. */
async function expectReplacedCarefully(victim: string, others: readonly string[]) {
  await world.until(completed(victim), 'the careful replace');
  await world.until(() => stateOf(victim) === 'terminated', 'EC2 to terminate the old instance');
  const [replacement] = world.replacementsOf(victim);
  expect(world.replacementsOf(victim)).toHaveLength(1);
  expect(replacement!.state).toBe('running');
  const targets = world.targets();
  expect(targets.map((t) => t.id).sort()).toEqual([...others, replacement!.instanceId].sort());
  expect(targets.every((t) => t.state === 'healthy')).toBe(true);
  const workflow = (await world.workflowOf(victim))!;
  expect(workflow).toMatchObject({ status: 'completed', outcome: 'replaced', drained: true });
  expectCarefulOrder(workflow);
  expect(world.stack.bus.deadLetters).toEqual([]);
  return workflow;
}

const alarm = (
  state: 'OK' | 'ALARM',
  previousState: 'OK' | 'ALARM',
  metric: Parameters<typeof alarmStateChange>[0]['metric'],
  alarmName = 'spot-handoff-heal-web',
) =>
  alarmStateChange({
    alarmName,
    state,
    previousState,
    metric,
    time: world.stack.cloud.clock.now(),
    region: world.stack.cloud.region,
    accountId: '123456789012',
  });
const targetGroupAlarm = (state: 'OK' | 'ALARM' = 'ALARM', previous: 'OK' | 'ALARM' = 'OK') =>
  alarm(state, previous, {
    kind: 'target-group',
    targetGroupArn: world.fleet.targetGroupArn,
    loadBalancerArn: world.fleet.loadBalancerArn,
  });
const unhealthyIn = (ids: readonly string[]) => () =>
  world.targets().filter((t) => ids.includes(t.id) && t.state === 'unhealthy').length === ids.length;

describe('alarm-driven healing', () => {
  it('replaces the unhealthy targets a target group alarm names, carefully', async () => {
    world = await fleetWorld();
    const [victim, ...others] = world.fleet.instanceIds;
    world.stack.cloud.failHealthChecks(victim!);
    await world.until(unhealthyIn([victim!]), 'the target to fail its health checks');

    world.stack.bus.put(targetGroupAlarm());

    const workflow = await expectReplacedCarefully(victim!, others);
    expect(workflow.kind).toBe('unhealthy');
    expect(workflow.careful?.reason).toContain('spot-handoff-heal-web');
    expect(workflow.careful?.terminatedOldAt).toBeDefined();
  });

  it('replaces the instance an EC2 status-check alarm names', async () => {
    world = await fleetWorld();
    const [victim, ...others] = world.fleet.instanceIds;

    world.stack.bus.put(alarm('ALARM', 'OK', { kind: 'instance', instanceId: victim! }));

    const workflow = await expectReplacedCarefully(victim!, others);
    expect(workflow.kind).toBe('unhealthy');
  });

  it('heals once however the alarm flaps, and leaves alarms not marked for healing alone', async () => {
    world = await fleetWorld();
    const [victim, ...others] = world.fleet.instanceIds;
    world.stack.cloud.failHealthChecks(victim!);
    await world.until(unhealthyIn([victim!]), 'the target to fail its health checks');

    world.stack.bus.put(alarm('ALARM', 'OK', { kind: 'instance', instanceId: others[0]! }, 'web-cpu-high'));
    world.stack.bus.put(targetGroupAlarm('ALARM', 'OK'));
    await world.pass(5_000);
    world.stack.bus.put(targetGroupAlarm('OK', 'ALARM'));
    await world.pass(5_000);
    world.stack.bus.put(targetGroupAlarm('ALARM', 'OK'));

    await expectReplacedCarefully(victim!, others);
    world.stack.bus.put(targetGroupAlarm('ALARM', 'OK'));
    await world.pass(70_000);
    expect(world.replacementsOf(victim!)).toHaveLength(1);
    expect(await world.workflowOf(others[0]!)).toBeUndefined();
    expect(world.instances().filter((i) => i.state === 'running')).toHaveLength(3);
  });

  it('suspends healing when too much of the group is unhealthy at once', async () => {
    world = await fleetWorld({ size: 4 });
    const ids = world.fleet.instanceIds;
    const broken = ids.slice(0, 2);
    for (const id of broken) world.stack.cloud.failHealthChecks(id);
    await world.until(unhealthyIn(broken), 'the targets to fail their health checks');

    world.stack.bus.put(targetGroupAlarm());
    await world.pass(120_000);

    for (const id of ids) {
      expect(await world.workflowOf(id)).toBeUndefined();
      expect(stateOf(id)).toBe('running');
    }
    expect(world.instances()).toHaveLength(4);
    expect(world.stack.bus.deadLetters).toEqual([]);
  });
});

describe('rebalance policies', () => {
  const rebalance = (instanceId: string) => ec2Event(REBALANCE, { 'instance-id': instanceId });

  it('replace: launches, waits for healthy, then drains and terminates the old instance', async () => {
    world = await fleetWorld({}, { HANDOFF_REBALANCE_ACTION: 'replace' });
    const [victim, ...others] = world.fleet.instanceIds;

    world.stack.bus.put(rebalance(victim!));

    const workflow = await expectReplacedCarefully(victim!, others);
    expect(workflow.kind).toBe('rebalance-replace');
  });

  it('replace: at most the churn budget of the group at once; the rest wait and are retried by the sweep', async () => {
    world = await fleetWorld(
      { size: 3 },
      { HANDOFF_REBALANCE_ACTION: 'replace', HANDOFF_CHURN_BUDGET_PERCENT: '20' },
    );
    const [first, second, third] = world.fleet.instanceIds;

    world.stack.bus.put(rebalance(first!));
    await world.pass(2_000);
    world.stack.bus.put(rebalance(second!));
    await world.pass(2_000);

    const waiting = (await world.workflowOf(second!))!;
    expect(waiting).toMatchObject({ status: 'in-progress', kind: 'rebalance-replace' });
    expect(waiting.careful?.overBudgetSince).toBeDefined();
    expect(waiting.careful?.admittedAt).toBeUndefined();
    expect(world.replacementsOf(second!)).toHaveLength(0);
    expect(world.replacementsOf(first!)).toHaveLength(1);

    await expectReplacedCarefully(
      first!,
      [second!, third!].concat(world.replacementsOf(second!).map((i) => i.instanceId)),
    );
    await world.until(completed(second!), 'the second careful replace, after the first');
    expect(world.replacementsOf(second!)).toHaveLength(1);
    expect(stateOf(second!)).not.toBe('running');
  });

  it('replace: a second recommendation for the same instance makes no second replacement', async () => {
    world = await fleetWorld({}, { HANDOFF_REBALANCE_ACTION: 'replace' });
    const victim = world.fleet.instanceIds[0]!;

    world.stack.bus.put(rebalance(victim));
    await world.pass(3_000);
    world.stack.bus.put(rebalance(victim));
    await world.until(completed(victim), 'the careful replace');

    expect(world.replacementsOf(victim)).toHaveLength(1);
  });

  it('ignore: a recommendation changes nothing', async () => {
    world = await fleetWorld({}, { HANDOFF_REBALANCE_ACTION: 'ignore' });
    const victim = world.fleet.instanceIds[0]!;

    world.stack.bus.put(rebalance(victim));
    await world.pass(90_000);

    expect(await world.workflowOf(victim)).toBeUndefined();
    expect(world.instances()).toHaveLength(3);
  });
});

describe("a standby's end", () => {
  const rebalance = (instanceId: string) => ec2Event(REBALANCE, { 'instance-id': instanceId });

  it('promote: after standby.maxAgeMinutes without a warning, the old instance is drained and terminated', async () => {
    world = await fleetWorld({}, { HANDOFF_STANDBY_MAX_AGE_MINUTES: '2', HANDOFF_STANDBY_END: 'promote' });
    const [victim, ...others] = world.fleet.instanceIds;

    world.stack.bus.put(rebalance(victim!));
    await world.until(async () => (await world.workflowOf(victim!))?.status === 'standby', 'the standby');

    const workflow = await expectReplacedCarefully(victim!, others);
    expect(workflow.standbyEnd).toMatchObject({ action: 'promote' });
    expect(workflow.standbyEnd?.reason).toMatch(/standby\.maxAgeMinutes 2.*promotes/);
  });

  it('retire: after standby.maxAgeMinutes without a warning, the standby is drained and terminated', async () => {
    world = await fleetWorld({}, { HANDOFF_STANDBY_MAX_AGE_MINUTES: '2', HANDOFF_STANDBY_END: 'retire' });
    const victim = world.fleet.instanceIds[0]!;

    world.stack.bus.put(rebalance(victim));
    await world.until(async () => (await world.workflowOf(victim))?.status === 'standby', 'the standby');
    const standby = world.replacementsOf(victim)[0]!.instanceId;
    await world.until(completed(victim), 'the standby to be retired');
    await world.until(() => stateOf(standby) === 'terminated', 'EC2 to terminate the standby');

    const workflow = (await world.workflowOf(victim))!;
    expect(workflow).toMatchObject({ status: 'completed', outcome: 'standby-retired' });
    expect(workflow.standbyEnd).toMatchObject({ action: 'retire', terminatedReplacementId: standby });
    expect(workflow.reason).toMatch(/retires it/);
    expect(stateOf(victim)).toBe('running');
    expect(
      world
        .targets()
        .map((t) => t.id)
        .sort(),
    ).toEqual([...world.fleet.instanceIds].sort());
    expect(world.targets().every((t) => t.state === 'healthy')).toBe(true);
    // Retired, the instance is still protected: its interruption is handed off as usual.
    world.stack.cloud.interrupt(victim);
    await world.until(
      async () => (await world.workflowOf(victim))?.outcome === 'replaced',
      'the handoff after the retirement',
    );
    expect(world.replacementsOf(victim).filter((i) => i.state === 'running')).toHaveLength(1);
  });
});
