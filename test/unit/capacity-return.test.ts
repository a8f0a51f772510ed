import { describe, expect, it } from 'vitest';
import { poolStandings, reclaimedPools, replaceAheadCandidates } from '../../src/core/pool-reclaim.ts';
import {
  type FallbackRecord,
  type RevertToSpot,
  revertAllowedAt,
  revertCandidates,
} from '../../src/core/revert-to-spot.ts';

/** The decisions of revert to Spot and of the whole-pool action, as tables. */

const at = (hhmm: string) => new Date(`2026-01-01T${hhmm}:00Z`);

describe('revertAllowedAt', () => {
  it.each<[RevertToSpot, string, boolean]>([
    ['never', '12:00', false],
    ['always', '03:00', true],
    [{ window: '01:00-05:00' }, '00:59', false],
    [{ window: '01:00-05:00' }, '01:00', true],
    [{ window: '01:00-05:00' }, '04:59', true],
    [{ window: '01:00-05:00' }, '05:00', false],
    [{ window: '22:00-06:00' }, '23:30', true],
    [{ window: '22:00-06:00' }, '05:59', true],
    [{ window: '22:00-06:00' }, '12:00', false],
    [{ window: '00:00-00:00' }, '12:00', true],
  ])('%j at %s UTC: %s', (revert, time, allowed) => {
    expect(revertAllowedAt(revert, at(time))).toBe(allowed);
  });
});

describe('revertCandidates', () => {
  const fallback = (overrides: Partial<FallbackRecord> = {}): FallbackRecord => ({
    workflowId: 'wf-i-1',
    status: 'completed',
    outcome: 'replaced',
    group: 'web',
    replacement: {
      instanceId: 'i-od',
      capacityType: 'on-demand',
      pool: { instanceType: 'm5.large', availabilityZone: 'us-east-1b' },
    },
    ...overrides,
  });
  const situation = {
    running: new Set(['i-od']),
    handled: new Set<string>(),
    revertToSpotOf: (): RevertToSpot => 'always',
    now: at('12:00'),
  };

  it.each<[string, FallbackRecord, Partial<typeof situation>, boolean]>([
    ['an On-Demand fallback that runs', fallback(), {}, true],
    [
      'a Spot replacement',
      fallback({ replacement: { instanceId: 'i-od', capacityType: 'spot' } }),
      {},
      false,
    ],
    [
      'an RI-covered replacement (paid for either way)',
      fallback({ replacement: { instanceId: 'i-od', capacityType: 'reserved' } }),
      {},
      false,
    ],
    ['a workflow still in progress', fallback({ status: 'in-progress' }), {}, false],
    ['a fallback no longer running', fallback(), { running: new Set() }, false],
    [
      'a fallback already handled (being reverted, interrupted, healed)',
      fallback(),
      { handled: new Set(['i-od']) },
      false,
    ],
    ['a group that never reverts', fallback(), { revertToSpotOf: () => 'never' }, false],
    ["outside the group's window", fallback(), { revertToSpotOf: () => ({ window: '01:00-05:00' }) }, false],
    ["inside the group's window", fallback(), { revertToSpotOf: () => ({ window: '11:00-13:00' }) }, true],
  ])('%s: %s', (_, record, changes, expected) => {
    const found = revertCandidates([record], { ...situation, ...changes });

    expect(found.map((c) => c.instanceId)).toEqual(expected ? ['i-od'] : []);
  });

  it('names the fallback, its pool, the workflow that launched it and the policy', () => {
    const [candidate] = revertCandidates([fallback()], situation);

    expect(candidate).toEqual({
      instanceId: 'i-od',
      group: 'web',
      fallbackOf: 'wf-i-1',
      reason:
        'On-Demand fallback i-od (m5.large in us-east-1b) of wf-i-1 goes back to Spot (revertToSpot always): a Spot replacement first, then it is drained and terminated.',
    });
  });
});

describe('the whole-pool action', () => {
  const recent = new Map([
    ['m5.large|us-east-1a', 3],
    ['m5.large|us-east-1b', 2],
  ]);

  it.each([
    [3, ['m5.large|us-east-1a']],
    [2, ['m5.large|us-east-1a', 'm5.large|us-east-1b']],
    [4, []],
  ])('threshold %i: pools being reclaimed %j', (threshold, pools) => {
    expect([...reclaimedPools(recent, threshold)]).toEqual(pools);
  });

  const members = [
    { instanceId: 'i-3', instanceType: 'm5.large', availabilityZone: 'us-east-1a' },
    { instanceId: 'i-1', instanceType: 'm5.large', availabilityZone: 'us-east-1a' },
    { instanceId: 'i-2', instanceType: 'm5.large', availabilityZone: 'us-east-1a' },
    { instanceId: 'i-9', instanceType: 'm5.large', availabilityZone: 'us-east-1b' },
    { instanceId: 'i-8', instanceType: 'm6i.large', availabilityZone: 'us-east-1a' },
  ];
  const base = {
    reclaimed: new Set(['m5.large|us-east-1a']),
    recent,
    handled: new Set<string>(),
    windowMinutes: 10,
  };

  it.each<[string, Partial<typeof base>, string[]]>([
    ['every other instance of the reclaimed pool, in id order', {}, ['i-1', 'i-2', 'i-3']],
    [
      'not those already handled (warned, or replaced ahead before)',
      { handled: new Set(['i-1']) },
      ['i-2', 'i-3'],
    ],
    ['none when no pool is being reclaimed', { reclaimed: new Set() }, []],
  ])('%s', (_, changes, expected) => {
    expect(replaceAheadCandidates(members, { ...base, ...changes }).map((c) => c.instanceId)).toEqual(
      expected,
    );
  });

  it('says why, with the count and the window', () => {
    expect(replaceAheadCandidates(members, base)[0]!.reason).toBe(
      'Pool m5.large in us-east-1a is being reclaimed (3 interruptions within 10 min): i-1 is replaced ahead of its own warning.',
    );
  });
});

describe('poolStandings: the window counts, the avoidance lasts avoidMinutes from the crossing', () => {
  const rule = { threshold: 3, windowMinutes: 10, avoidMinutes: 30 };
  const POOL = 'm5.large|us-east-1a';
  const standing = (times: string[], now: string) =>
    poolStandings(new Map([[POOL, times.map((t) => at(t).getTime())]]), rule, at(now)).get(POOL);

  it.each<[string, string[], string, ReturnType<typeof standing>]>([
    [
      'crossed at the third within the window: avoided for 30 min from then',
      ['12:00', '12:01', '12:02'],
      '12:05',
      { recent: 3, avoided: { crossedAt: '2026-01-01T12:02:00.000Z', until: '2026-01-01T12:32:00.000Z' } },
    ],
    [
      'still avoided once the interruptions have left the window',
      ['12:00', '12:01', '12:02'],
      '12:20',
      { recent: 0, avoided: { crossedAt: '2026-01-01T12:02:00.000Z', until: '2026-01-01T12:32:00.000Z' } },
    ],
    ['no longer avoided avoidMinutes after the crossing', ['12:00', '12:01', '12:02'], '12:32', undefined],
    [
      'never avoided when the threshold is not met within one window',
      ['12:00', '12:11', '12:19'],
      '12:20',
      { recent: 2 },
    ],
    [
      'a later interruption still at the threshold within its window extends the avoidance',
      ['12:00', '12:01', '12:02', '12:05'],
      '12:33',
      { recent: 0, avoided: { crossedAt: '2026-01-01T12:05:00.000Z', until: '2026-01-01T12:35:00.000Z' } },
    ],
    [
      'an isolated interruption after the cluster does not',
      ['12:00', '12:01', '12:02', '12:25'],
      '12:33',
      { recent: 1 },
    ],
    ['interruptions after now do not count', ['12:00', '12:01', '12:30'], '12:05', { recent: 2 }],
  ])('%s', (_, times, now, expected) => {
    expect(standing(times, now)).toEqual(expected);
  });
});
