import { describe, expect, it } from 'vitest';
import type { Signal } from '../../src/core/events.ts';
import {
  hasReleasedResources,
  INSTANCE_STATES,
  isLeavingOrGone,
  type RecordedState,
} from '../../src/core/facts.ts';
import { DEFAULT_CAREFUL_POLICY } from '../../src/core/group-policy.ts';
import {
  keptPrimaryIp,
  planNext,
  primaryIpReleased,
  replaceability,
  replacementTags,
  standbyEndDue,
  startsWorkflow,
  updateStatus,
  withinBudget,
} from '../../src/core/plan.ts';
import type { InstanceFacts } from '../../src/core/ports.ts';
import { accountedFor } from '../../src/core/stateful.ts';
import type { HandoverResource, InstanceRecord, Workflow } from '../../src/core/workflow.ts';
import { TAGS } from '../support/fakes.ts';

/** The decisions of `plan.ts`, as tables: each row a situation and what is decided. */

const NOW = new Date('2026-01-01T12:05:00Z');

const record: InstanceRecord = {
  instanceType: 'm5.large',
  availabilityZone: 'us-east-1a',
  subnetId: 'subnet-a',
  vpcId: 'vpc-1',
  privateIpAddress: '10.0.1.4',
  privateIps: ['10.0.1.4'],
  lifecycle: 'spot',
  launchTemplate: { id: 'lt-1', version: '3' },
  tags: { Name: 'web' },
};

function workflowWith(overrides: Partial<Workflow> = {}): Workflow {
  return {
    workflowId: 'wf-i-0123456789abcdef0',
    instanceId: 'i-0123456789abcdef0',
    version: 1,
    status: 'in-progress',
    startedAt: '2026-01-01T12:00:00.000Z',
    updatedAt: '2026-01-01T12:00:00.000Z',
    eventIds: [],
    signals: { rebalance: false, warning: true },
    instance: record,
    drained: false,
    oldInstanceState: 'running',
    elbCalls: 0,
    steps: [],
    ...overrides,
  };
}

const facts = (state: InstanceFacts['state'], stateReason?: string): InstanceFacts => ({
  instanceId: 'i-0123456789abcdef0',
  state,
  stateReason,
  instanceType: 'm5.large',
  availabilityZone: 'us-east-1a',
  tags: {},
  volumes: [],
  networkInterfaces: [],
});

describe('instance states', () => {
  const states: RecordedState[] = [...INSTANCE_STATES, 'gone'];
  const leaving = ['stopping', 'stopped', 'shutting-down', 'terminated', 'gone'];
  const released = ['stopped', 'terminated', 'gone'];

  it.each(states)('%s: leaving or gone, and resources released, as listed', (state) => {
    expect(isLeavingOrGone(state)).toBe(leaving.includes(state));
    expect(hasReleasedResources(state)).toBe(released.includes(state));
  });
});

describe('startsWorkflow', () => {
  const base = { instanceId: 'i-0123456789abcdef0', eventId: 'e-1', time: '2026-01-01T12:00:00Z' };
  it.each<[string, Signal, InstanceFacts | undefined, 'prelaunch' | 'ignore', boolean]>([
    [
      'a warning',
      { ...base, kind: 'warning', instanceAction: 'terminate' },
      facts('running'),
      'prelaunch',
      true,
    ],
    ['a rebalance, prelaunching', { ...base, kind: 'rebalance' }, facts('running'), 'prelaunch', true],
    ['a rebalance, ignored', { ...base, kind: 'rebalance' }, facts('running'), 'ignore', false],
    [
      'a Spot termination',
      { ...base, kind: 'state-change', state: 'shutting-down' },
      facts('shutting-down', 'Server.SpotInstanceTermination'),
      'prelaunch',
      true,
    ],
    [
      'a Spot stop',
      { ...base, kind: 'state-change', state: 'stopping' },
      facts('stopping', 'Server.SpotInstanceShutdown'),
      'prelaunch',
      true,
    ],
    [
      'a termination by the user',
      { ...base, kind: 'state-change', state: 'shutting-down' },
      facts('shutting-down', 'Client.UserInitiatedShutdown'),
      'prelaunch',
      false,
    ],
    [
      'a state change of a gone instance',
      { ...base, kind: 'state-change', state: 'terminated' },
      undefined,
      'prelaunch',
      false,
    ],
    ['the sweep', { ...base, kind: 'sweep' }, facts('running'), 'prelaunch', false],
  ])('%s starts a workflow: %s', (_what, signal, instance, rebalanceAction, starts) => {
    const policies = { groups: {}, ungrouped: { ...DEFAULT_CAREFUL_POLICY, rebalance: rebalanceAction } };
    expect(startsWorkflow(signal, instance, { policies, tags: TAGS })).toBe(starts);
  });
});

describe('replaceability', () => {
  it.each<[string, InstanceRecord, string | undefined]>([
    ['launched from a template, in a subnet', record, undefined],
    ['in an Auto Scaling group', { ...record, autoScalingGroup: 'web-asg' }, 'asg-managed'],
    ['without a launch template', { ...record, launchTemplate: undefined }, 'not-replaceable'],
    ['without a subnet', { ...record, subnetId: undefined }, 'not-replaceable'],
  ])('an instance %s: %s', (_what, instance, outcome) => {
    const decided = replaceability(instance);
    expect(decided.replaceable ? undefined : decided.outcome).toBe(outcome);
  });
});

describe('the primary IP a replacement keeps', () => {
  const keeping = (oldInstanceState: RecordedState) =>
    workflowWith({
      oldInstanceState,
      handover: {
        options: {
          volumes: true,
          networkInterfaces: true,
          privateIps: true,
          elasticIps: true,
          primaryIp: 'keep',
          rootVolume: 'new',
        },
        availabilityZone: 'us-east-1a',
        resources: [],
      },
    });

  it.each<[RecordedState, boolean, string | undefined]>([
    ['running', false, undefined],
    ['stopping', false, undefined],
    ['shutting-down', false, undefined],
    ['stopped', true, undefined],
    ['terminated', true, '10.0.1.4'],
    ['gone', true, '10.0.1.4'],
  ])('old instance %s: launch may go ahead %s, with IP %s', (state, released, ip) => {
    expect(primaryIpReleased(keeping(state))).toBe(released);
    expect(keptPrimaryIp(keeping(state))).toBe(ip);
  });

  it('does not wait when the replacement takes a new IP', () => {
    expect(primaryIpReleased(workflowWith())).toBe(true);
    expect(keptPrimaryIp(workflowWith({ oldInstanceState: 'terminated' }))).toBeUndefined();
  });
});

describe('planNext', () => {
  const running = { ...facts('running'), instanceId: 'i-0fedcba9876543210' };
  const targets = [
    { targetGroupArn: 'arn:tg', targetType: 'instance' as const, id: 'i-0123456789abcdef0', port: 80 },
  ];
  it.each<[string, Workflow, InstanceFacts | undefined, InstanceFacts | undefined, string[]]>([
    [
      'a new warning: find targets, launch',
      workflowWith(),
      facts('running'),
      undefined,
      ['findTargets', 'launch'],
    ],
    [
      'targets known: drain and launch',
      workflowWith({ targets }),
      facts('running'),
      undefined,
      ['drain', 'launch'],
    ],
    [
      'a rebalance only: launch, no drain',
      workflowWith({ targets, signals: { rebalance: true, warning: false } }),
      facts('running'),
      undefined,
      ['launch'],
    ],
    [
      'drained, replacement running: register',
      workflowWith({
        targets,
        drained: true,
        replacement: { attempt: 1, clientToken: 't', instanceId: running.instanceId },
      }),
      facts('running'),
      running,
      ['register'],
    ],
    [
      'old instance gone, nothing recorded: drain (nothing), launch',
      workflowWith({ oldInstanceState: 'gone' }),
      undefined,
      undefined,
      ['drain', 'launch'],
    ],
    [
      'in an Auto Scaling group: drain only',
      workflowWith({ targets, instance: { ...record, autoScalingGroup: 'asg' } }),
      facts('running'),
      undefined,
      ['drain'],
    ],
  ])('%s', (_what, workflow, old, replacement, wanted) => {
    const plan = planNext({ workflow, old, replacement });
    expect(Object.entries(plan).flatMap(([step, due]) => (due ? [step] : []))).toEqual(wanted);
  });
});

describe('updateStatus', () => {
  const replaced = { attempt: 1, clientToken: 't', instanceId: 'i-0fedcba9876543210' };
  it.each<[string, Workflow, string, string | undefined]>([
    ['the instance was never known', workflowWith({ instance: undefined }), 'completed', 'instance-gone'],
    ['launching', workflowWith({ drained: true }), 'in-progress', undefined],
    [
      'waiting for the replacement to run',
      workflowWith({ drained: true, replacement: replaced }),
      'in-progress',
      undefined,
    ],
    [
      'registered and drained',
      workflowWith({ drained: true, replacement: replaced, registered: [] }),
      'completed',
      'replaced',
    ],
    [
      'registered, rebalance only',
      workflowWith({ signals: { rebalance: true, warning: false }, replacement: replaced, registered: [] }),
      'standby',
      undefined,
    ],
    [
      'in an Auto Scaling group, drained',
      workflowWith({ drained: true, instance: { ...record, autoScalingGroup: 'asg' } }),
      'completed',
      'asg-managed',
    ],
  ])('%s: %s', (_what, workflow, status, outcome) => {
    updateStatus(workflow, NOW, 30);
    expect(workflow.status).toBe(status);
    expect(workflow.outcome).toBe(outcome);
    expect(workflow.expiresAt).toBe(status === 'completed' ? NOW.getTime() / 1000 + 30 * 86_400 : undefined);
  });
});

describe('accountedFor', () => {
  it.each<[HandoverResource['status'], boolean]>([
    ['protected', false],
    ['moving', false],
    ['attached', true],
    ['left-available', true],
    ['gone', true],
  ])('a resource %s: %s', (status, done) => {
    expect(
      accountedFor({ kind: 'private-ip', privateIpAddress: '10.0.1.5', subnetId: 'subnet-a', status }),
    ).toBe(done);
  });
});

describe('replacementTags', () => {
  it("carries the old instance's tags and says whom it replaces, for which workflow", () => {
    expect(replacementTags(workflowWith(), TAGS)).toEqual({
      Name: 'web',
      'spot-handoff:replaces': 'i-0123456789abcdef0',
      'spot-handoff:workflow': 'wf-i-0123456789abcdef0',
    });
  });
});

describe('careful replace', () => {
  const T = '2026-01-01T12:01:00.000Z';
  const TARGET = { targetGroupArn: 'arn:tg', targetType: 'instance' as const, id: 'i-new', port: 80 };
  const careful = (c: Partial<NonNullable<Workflow['careful']>> = {}) =>
    workflowWith({
      kind: 'unhealthy',
      signals: { rebalance: false, warning: false },
      targets: [{ ...TARGET, id: 'i-0123456789abcdef0' }],
      careful: { reason: 'alarm', requestedAt: T, admittedAt: T, ...c },
      replacement: { attempt: 1, clientToken: 't', instanceId: 'i-new', state: 'running' },
    });
  const running = { ...facts('running'), instanceId: 'i-new' };
  type Row = [string, Workflow, InstanceFacts | undefined, Partial<ReturnType<typeof planNext>>];
  it.each<Row>([
    [
      'not admitted (over the churn budget): nothing launches',
      workflowWith({
        kind: 'rebalance-replace',
        signals: { rebalance: false, warning: false },
        careful: { reason: 'r', requestedAt: T, overBudgetSince: T },
      }),
      undefined,
      { launch: false, drain: false },
    ],
    [
      'admitted: launches, does not drain',
      workflowWith({
        kind: 'unhealthy',
        signals: { rebalance: false, warning: false },
        targets: [],
        careful: { reason: 'r', requestedAt: T, admittedAt: T },
      }),
      undefined,
      { launch: true, drain: false },
    ],
    [
      'running, not registered: registers, no health check yet',
      careful(),
      running,
      { register: true, checkHealthy: false, drain: false },
    ],
    [
      'registered, not healthy: checks health, does not drain',
      { ...careful(), registered: [TARGET] },
      running,
      { checkHealthy: true, drain: false, terminateOld: false },
    ],
    [
      'healthy: drains the old instance',
      { ...careful({ healthyAt: T }), registered: [TARGET] },
      running,
      { checkHealthy: false, drain: true, terminateOld: false },
    ],
    [
      'healthy and drained: terminates the old instance',
      { ...careful({ healthyAt: T }), registered: [TARGET], drained: true },
      running,
      { drain: false, terminateOld: true },
    ],
    [
      'old instance terminated: nothing left to terminate',
      { ...careful({ healthyAt: T, terminatedOldAt: T }), registered: [TARGET], drained: true },
      running,
      { terminateOld: false },
    ],
    [
      'an interruption warning meanwhile: drains at once, EC2 terminates',
      { ...careful(), registered: [TARGET], signals: { rebalance: false, warning: true } },
      running,
      { drain: true, checkHealthy: false, terminateOld: false },
    ],
  ])('%s', (_what, workflow, replacement, expected) => {
    const old = facts('running');
    expect(planNext({ workflow, old, replacement })).toMatchObject(expected);
  });

  it('completes only once the old instance is terminated', () => {
    const workflow = { ...careful({ healthyAt: T }), registered: [TARGET], drained: true };
    updateStatus(workflow, NOW, 30);
    expect(workflow.status).toBe('in-progress');
    workflow.careful!.terminatedOldAt = T;
    updateStatus(workflow, NOW, 30);
    expect(workflow).toMatchObject({ status: 'completed', outcome: 'replaced' });
  });
});

describe('withinBudget', () => {
  it.each<[number, number, number, boolean]>([
    // busy, group size, percent, may one more start
    [0, 3, 20, true], // at least one, however small the group
    [1, 3, 20, false],
    [1, 10, 20, true],
    [2, 10, 20, false],
    [0, 0, 20, true],
    [9, 10, 100, true],
    [10, 10, 100, false],
  ])('%i busy of %i at %i%%: %s', (busy, size, percent, allowed) => {
    expect(withinBudget(busy, size, percent)).toBe(allowed);
  });
});

describe('standbyEndDue', () => {
  const registeredAt = '2026-01-01T12:00:00.000Z';
  const standby = (overrides: Partial<Workflow> = {}) =>
    workflowWith({
      status: 'standby',
      signals: { rebalance: true, warning: false },
      replacement: { attempt: 1, clientToken: 't', instanceId: 'i-new', state: 'running' },
      registered: [],
      steps: [{ name: 'register', status: 'done', at: registeredAt, elapsedMs: 0 }],
      ...overrides,
    });
  const policy = (end: 'promote' | 'retire') => ({
    ...DEFAULT_CAREFUL_POLICY,
    standby: { maxAgeMinutes: 60, end },
  });
  const at = (minutes: number) => new Date(Date.parse(registeredAt) + minutes * 60_000);
  it.each<[string, Workflow, 'promote' | 'retire', Date, string | undefined]>([
    ['younger than maxAgeMinutes', standby(), 'retire', at(59), undefined],
    ['at maxAgeMinutes, retire', standby(), 'retire', at(60), 'retire'],
    ['at maxAgeMinutes, promote', standby(), 'promote', at(61), 'promote'],
    [
      'warned meanwhile',
      standby({ signals: { rebalance: true, warning: true } }),
      'retire',
      at(90),
      undefined,
    ],
    [
      'already ended',
      standby({ standbyEnd: { action: 'retire', reason: 'r', at: registeredAt } }),
      'retire',
      at(90),
      undefined,
    ],
    ['not a standby', standby({ status: 'in-progress' }), 'retire', at(90), undefined],
  ])('%s', (_what, workflow, end, now, expected) => {
    const due = standbyEndDue(workflow, policy(end), now);
    expect(due?.action).toBe(expected);
    if (due) expect(due.reason).toContain('standby.maxAgeMinutes 60');
  });
});
