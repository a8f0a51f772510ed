import { describe, expect, it } from 'vitest';
import { takeEvents } from '../../src/core/intake.ts';
import { deploymentOf, UnknownDeploymentError } from '../../src/core/trust.ts';
import { workflowIdFor } from '../../src/core/workflow.ts';
import { type FakeWorld, fakeWorld } from '../support/fakes.ts';

const OURS = { account: '123456789012', region: 'us-east-1' };
const NOW = '2026-01-01T12:00:00Z';
const ALL = ['warning', 'rebalance', 'state-change'] as const;

function event(detailType: string, detail: Record<string, unknown>, overrides: Record<string, unknown> = {}) {
  return {
    version: '0',
    id: `e-${Math.random()}`,
    'detail-type': detailType,
    source: 'aws.ec2',
    account: OURS.account,
    time: NOW,
    region: OURS.region,
    resources: [],
    detail,
    ...overrides,
  };
}

const warningFor = (instanceId: string, overrides: Record<string, unknown> = {}, action = 'terminate') =>
  event(
    'EC2 Spot Instance Interruption Warning',
    { 'instance-id': instanceId, 'instance-action': action },
    overrides,
  );

function managed(world: FakeWorld) {
  return world.ec2.add({ tags: {} });
}

describe('events from elsewhere', () => {
  it('are refused, counted and logged as no-ops: no write, no throw', async () => {
    const world = fakeWorld();
    const old = managed(world);

    const result = await takeEvents(
      [
        warningFor(old.instanceId, { account: '999999999999' }),
        warningFor(old.instanceId, { region: 'eu-west-1' }),
        warningFor(old.instanceId, { detail: { 'instance-id': old.instanceId, pad: 'x'.repeat(300_000) } }),
      ],
      ALL,
      world.deps,
      OURS,
    );

    expect(result.refused.map((r) => r.reason)).toEqual([
      expect.stringContaining('account "999999999999"'),
      expect.stringContaining('Region "eu-west-1"'),
      expect.stringContaining('event limit'),
    ]);
    expect(result.outcomes).toEqual([]);
    expect(world.metrics.counts.get('RefusedEvents')).toBe(3);
    expect(await world.store.list()).toEqual([]);
    expect(world.ec2.replacementsOf(old.instanceId)).toEqual([]);
  });

  it('are taken from an account on the allow-list', async () => {
    const world = fakeWorld();
    world.deps.settings.events = { ...world.deps.settings.events, trustedAccounts: ['999999999999'] };
    const old = managed(world);

    const result = await takeEvents(
      [warningFor(old.instanceId, { account: '999999999999' })],
      ALL,
      world.deps,
      OURS,
    );

    expect(result.refused).toEqual([]);
    expect(world.ec2.replacementsOf(old.instanceId)).toHaveLength(1);
  });
});

describe('untimely events', () => {
  it('start nothing, and are counted', async () => {
    const world = fakeWorld();
    const old = managed(world);

    await takeEvents(
      [
        warningFor(old.instanceId, { time: '1970-01-01T00:00:00Z' }),
        warningFor(old.instanceId, { time: '2999-01-01T00:00:00Z' }),
      ],
      ALL,
      world.deps,
      OURS,
    );

    expect(await world.store.get(workflowIdFor(old.instanceId))).toBeUndefined();
    expect(world.ec2.replacementsOf(old.instanceId)).toEqual([]);
    expect(world.metrics.counts.get('UntimelyEvents')).toBe(2);
  });

  it('still advance an existing workflow from what EC2 says', async () => {
    const world = fakeWorld();
    const old = managed(world);
    await takeEvents([warningFor(old.instanceId)], ALL, world.deps, OURS);
    const [replacement] = world.ec2.replacementsOf(old.instanceId);
    world.ec2.setState(replacement!.instanceId, 'running');
    world.clock.advance(3_600_000);

    await takeEvents(
      [
        event(
          'EC2 Instance State-change Notification',
          { 'instance-id': replacement!.instanceId, state: 'running' },
          { time: NOW },
        ),
      ],
      ALL,
      world.deps,
      OURS,
    );

    const workflow = await world.store.get(workflowIdFor(old.instanceId));
    expect(workflow?.replacement).toMatchObject({ instanceId: replacement!.instanceId, state: 'running' });
    expect(workflow?.deadlines?.reclaimAt).toBe('2026-01-01T12:02:00.000Z');
  });
});

describe('events as AWS documents them', () => {
  it('the state-change example without version is accepted', async () => {
    const world = fakeWorld();
    const old = managed(world);
    const { version: _version, ...documented } = event('EC2 Instance State-change Notification', {
      'instance-id': old.instanceId,
      state: 'running',
    });

    const result = await takeEvents([documented], ALL, world.deps, OURS);

    expect(result.refused).toEqual([]);
    expect(result.outcomes).toEqual([
      expect.objectContaining({ instanceId: old.instanceId, result: 'no-op' }),
    ]);
  });

  it('a hibernation warning has no lead time: EC2 may reclaim at once', async () => {
    const world = fakeWorld();
    const old = managed(world);

    await takeEvents([warningFor(old.instanceId, {}, 'hibernate')], ALL, world.deps, OURS);

    expect((await world.store.get(workflowIdFor(old.instanceId)))?.deadlines?.reclaimAt).toBe(
      new Date(NOW).toISOString(),
    );
  });

  it('a replayed workflow is marked so in its record', async () => {
    const world = fakeWorld();
    const old = managed(world);

    await takeEvents([warningFor(old.instanceId, { source: 'spot-handoff.replay' })], ALL, world.deps, OURS);

    expect(await world.store.get(workflowIdFor(old.instanceId))).toMatchObject({ replayed: true });
  });
});

describe('the deployment', () => {
  it('is read from the invoked function ARN, else from the settings, else refused loudly', () => {
    const settings = { trustedAccounts: [], maxAgeMs: 1, maxFutureMs: 1 };
    expect(
      deploymentOf('arn:aws:lambda:eu-west-1:111122223333:function:handoff-interruption', settings),
    ).toEqual({
      account: '111122223333',
      region: 'eu-west-1',
    });
    expect(deploymentOf(undefined, { ...settings, accountId: '111122223333', region: 'us-east-2' })).toEqual({
      account: '111122223333',
      region: 'us-east-2',
    });
    expect(() => deploymentOf(undefined, { ...settings, region: 'us-east-2' })).toThrow(
      UnknownDeploymentError,
    );
    expect(() => deploymentOf(undefined, { ...settings, region: 'us-east-2' })).toThrow(/HANDOFF_ACCOUNT_ID/);
  });
});
