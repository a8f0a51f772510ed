import { describe, expect, it } from 'vitest';
import {
  assignmentOrder,
  type CapacityView,
  chooseCapacity,
  describeLaunches,
  type FleetStage,
} from '../../src/core/capacity.ts';
import type { FleetInstance } from '../../src/core/facts.ts';
import { parsePolicy } from '../../src/core/policy.ts';

const policyOf = (group: Record<string, unknown> = {}) =>
  parsePolicy({ groups: { web: { instanceTypes: [{ type: 'm5.large' }], ...group } } }).groups['web']!;

const pool = (instanceType: string, availabilityZone: string) => ({
  instanceType,
  availabilityZone,
  subnetId: `subnet-${availabilityZone.slice(-1)}`,
});

const A = pool('m5.large', 'us-east-1a');
const B = pool('m5.large', 'us-east-1b');
const C = pool('c5.large', 'us-east-1c');

const AVOIDED = { crossedAt: '2026-01-01T12:02:00.000Z', until: '2026-01-01T12:32:00.000Z' };

const view = (over: Partial<CapacityView> = {}): CapacityView => ({
  pools: [A, B, C],
  reclaimed: [{ instanceType: 'm5.large', availabilityZone: 'us-east-1a' }],
  reservations: [],
  spotPrices: new Map(),
  placementScores: new Map(),
  interruptions: new Map(),
  avoided: new Map(),
  onDemandPrices: { 'm5.large': 0.096, 'c5.large': 0.085 },
  ...over,
});

const keys = (pools: readonly { instanceType: string; availabilityZone: string }[]) =>
  pools.map((p) => `${p.instanceType}|${p.availabilityZone}`);

describe('chooseCapacity', () => {
  it.each([
    ['never the reclaimed pool', view(), ['m5.large|us-east-1b', 'c5.large|us-east-1c']],
    [
      'placement score first',
      view({
        placementScores: new Map([
          ['c5.large|us-east-1c', 9],
          ['m5.large|us-east-1b', 3],
        ]),
      }),
      ['c5.large|us-east-1c', 'm5.large|us-east-1b'],
    ],
    [
      'then the Spot price',
      view({
        spotPrices: new Map([
          ['c5.large|us-east-1c', 0.05],
          ['m5.large|us-east-1b', 0.03],
        ]),
      }),
      ['m5.large|us-east-1b', 'c5.large|us-east-1c'],
    ],
    [
      'a recently interrupted pool last, whatever its score',
      view({
        placementScores: new Map([['m5.large|us-east-1b', 10]]),
        interruptions: new Map([['m5.large|us-east-1b', 1]]),
      }),
      ['c5.large|us-east-1c', 'm5.large|us-east-1b'],
    ],
    [
      'an avoided pool not at all (the threshold was crossed within avoidMinutes)',
      view({ avoided: new Map([['c5.large|us-east-1c', AVOIDED]]) }),
      ['m5.large|us-east-1b'],
    ],
  ])('ranks Spot pools: %s', (_, input, expected) => {
    expect(keys(chooseCapacity(policyOf(), input).spot)).toEqual(expected);
  });

  it('ranks Spot by price alone for lowest-price', () => {
    const input = view({
      placementScores: new Map([['c5.large|us-east-1c', 9]]),
      spotPrices: new Map([
        ['c5.large|us-east-1c', 0.05],
        ['m5.large|us-east-1b', 0.03],
      ]),
    });
    expect(keys(chooseCapacity(policyOf({ spotAllocationStrategy: 'lowest-price' }), input).spot)).toEqual([
      'm5.large|us-east-1b',
      'c5.large|us-east-1c',
    ]);
  });

  it.each([
    [
      'a zonal RI in an allowed pool',
      { instanceType: 'm5.large', availabilityZone: 'us-east-1b' },
      'm5.large|us-east-1b',
    ],
    ['a Regional RI, in its first allowed pool', { instanceType: 'c5.large' }, 'c5.large|us-east-1c'],
    ['no RI in the reclaimed pool', { instanceType: 'm5.large', availabilityZone: 'us-east-1a' }, undefined],
    ['no RI of a type the group does not allow', { instanceType: 'r5.large' }, undefined],
  ])('uses %s', (_, ri, expected) => {
    const choice = chooseCapacity(
      policyOf(),
      view({ reservations: [{ reservedInstancesId: 'ri-1', unused: 2, ...ri }] }),
    );
    expect(keys(choice.reserved)[0]).toBe(expected);
  });

  it('leaves RIs aside when the policy does not put them first', () => {
    const choice = chooseCapacity(
      policyOf({ reservedFirst: false }),
      view({ reservations: [{ reservedInstancesId: 'ri-1', unused: 2, instanceType: 'c5.large' }] }),
    );
    expect(choice.reserved).toEqual([]);
  });

  it('orders On-Demand by price and says why each pool was left out', () => {
    const choice = chooseCapacity(
      policyOf(),
      view({
        interruptions: new Map([['m5.large|us-east-1b', 1]]),
        avoided: new Map([['m5.large|us-east-1b', AVOIDED]]),
      }),
    );
    expect(keys(choice.onDemand)).toEqual(['c5.large|us-east-1c']);
    expect(choice.excluded.map((e) => e.why)).toEqual([
      'being reclaimed',
      'avoided until 2026-01-01T12:32:00.000Z: 3 interruptions within 10 min by 2026-01-01T12:02:00.000Z',
    ]);
  });

  it('records on each launch the pools it avoided and until when', () => {
    const choice = chooseCapacity(policyOf(), view({ avoided: new Map([['m5.large|us-east-1b', AVOIDED]]) }));
    const records = describeLaunches(
      [
        { instanceId: 'i-1', ...C, lifecycle: 'spot', stage: 'first' } as FleetInstance & {
          stage: FleetStage;
        },
      ],
      choice,
      0,
    );
    expect(records.get('i-1')?.avoidedPools).toEqual([
      { instanceType: 'm5.large', availabilityZone: 'us-east-1b', until: AVOIDED.until },
    ]);
  });
});

describe('describeLaunches', () => {
  const launched = (id: string, p: typeof A, lifecycle: 'spot' | 'on-demand', stage: FleetStage) =>
    ({ instanceId: id, ...p, lifecycle, stage }) as FleetInstance & { stage: FleetStage };

  it('records RI-covered On-Demand as reserved (as many as the RI covers), Spot with its reasons, fallback On-Demand', () => {
    const choice = chooseCapacity(
      policyOf(),
      view({
        reservations: [{ reservedInstancesId: 'ri-1', unused: 1, instanceType: 'c5.large' }],
        spotPrices: new Map([['m5.large|us-east-1b', 0.04]]),
        placementScores: new Map([['m5.large|us-east-1b', 9]]),
      }),
    );
    const records = describeLaunches(
      [
        launched('i-3', B, 'spot', 'first'),
        launched('i-1', C, 'on-demand', 'first'),
        launched('i-2', C, 'on-demand', 'first'),
        launched('i-4', C, 'on-demand', 'on-demand-fallback'),
      ],
      choice,
      2,
    );
    expect(Object.fromEntries(records)).toEqual({
      'i-1': {
        capacityType: 'reserved',
        choiceReason: 'unused RI ri-1 covers c5.large in us-east-1c',
        hourlyPrice: 0,
        onDemandPrice: 0.085,
      },
      'i-2': expect.objectContaining({ capacityType: 'on-demand', hourlyPrice: 0.085 }),
      'i-3': {
        capacityType: 'spot',
        choiceReason: 'Spot m5.large in us-east-1b: placement score 9, 0 recent interruptions, $0.04/h',
        hourlyPrice: 0.04,
        onDemandPrice: 0.096,
      },
      'i-4': expect.objectContaining({
        capacityType: 'on-demand',
        choiceReason: '2 Spot pools had no capacity; On-Demand fallback (c5.large in us-east-1c)',
      }),
    });
  });
});

describe('assignmentOrder', () => {
  it('puts On-Demand before Spot, then orders by id, whatever order EC2 answered in', () => {
    const instances = [
      { instanceId: 'i-2', lifecycle: 'spot' },
      { instanceId: 'i-9', lifecycle: 'on-demand' },
      { instanceId: 'i-1', lifecycle: 'spot' },
    ];
    expect(assignmentOrder(instances).map((i) => i.instanceId)).toEqual(['i-9', 'i-1', 'i-2']);
    expect(assignmentOrder([...instances].reverse())).toEqual(assignmentOrder(instances));
  });
});
