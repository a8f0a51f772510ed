import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { groupOf, PolicyError, parsePolicy } from '../../src/core/policy.ts';

describe('parsePolicy', () => {
  it('fills every default of a group', () => {
    const policy = parsePolicy({ groups: { web: { instanceTypes: [{ type: 'm6i.large' }] } } });

    expect(policy.groups['web']).toEqual({
      instanceTypes: [{ type: 'm6i.large' }],
      spotAllocationStrategy: 'price-capacity-optimized',
      reservedFirst: true,
      onDemandFallback: true,
      revertToSpot: 'always',
      rebalance: 'prelaunch',
      standby: { maxAgeMinutes: 60, end: 'retire' },
      churnBudgetPercent: 20,
      poolReclaim: { threshold: 3, windowMinutes: 10, avoidMinutes: 30, replaceAhead: false },
    });
  });

  it('reads no policy as no groups', () => {
    expect(parsePolicy(undefined)).toEqual({ groups: {} });
  });

  it.each([
    [
      { spotAllocationStrategy: 'cheapest' },
      'groups.web.spotAllocationStrategy: must be one of "price-capacity-optimized"',
    ],
    [{ revertToSpot: { window: '25:00-03:00' } }, 'groups.web.revertToSpot'],
    [{ rebalanceAction: 'replace' }, 'groups.web: unknown field(s) rebalanceAction'],
    [{ churnBudgetPercent: 0 }, 'groups.web.churnBudgetPercent'],
    [{ subnets: ['sn-1'] }, 'groups.web.subnets.0: a subnet id such as subnet-0abc'],
  ])('names the bad field of %j with what is allowed', (bad, named) => {
    const attempt = () => parsePolicy({ groups: { web: { instanceTypes: [{ type: 'm5.large' }], ...bad } } });

    expect(attempt).toThrow(PolicyError);
    expect(attempt).toThrow(named);
  });

  it('names every bad field at once', () => {
    try {
      parsePolicy({
        groups: {
          web: { instanceTypes: [{ type: 'large' }], reservedFirst: 'yes', standby: { end: 'keep' } },
          api: {},
        },
      });
      expect.unreachable();
    } catch (error) {
      const problems = (error as PolicyError).problems;
      expect(problems).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^groups\.web\.instanceTypes\.0\.type: an EC2 instance type/),
          expect.stringMatching(/^groups\.web\.reservedFirst: expected boolean/),
          expect.stringMatching(/^groups\.web\.standby\.end: must be one of "promote", "retire"/),
          expect.stringMatching(/^groups\.api: give instanceTypes/),
        ]),
      );
    }
  });

  it('refuses both instanceTypes and instanceRequirements', () => {
    expect(() =>
      parsePolicy({
        groups: {
          web: {
            instanceTypes: [{ type: 'm5.large' }],
            instanceRequirements: { vCpu: { min: 2 }, memoryMiB: { min: 4096 } },
          },
        },
      }),
    ).toThrow('groups.web: give instanceTypes or instanceRequirements, not both');
  });
});

describe('groupOf', () => {
  const policy = parsePolicy({ groups: { web: { instanceTypes: [{ type: 'm5.large' }] } } });

  it.each([
    [{ 'spot-handoff:group': 'web' }, 'web'],
    [{ 'spot-handoff:group': 'batch' }, undefined],
    [{}, undefined],
  ])('finds the group of tags %j: %s', (tags, name) => {
    expect(groupOf(tags, 'spot-handoff:group', policy)?.name).toBe(name);
  });
});

describe('packaging (infra/policy.cjs)', () => {
  const { policyJson } = createRequire(import.meta.url)('../../infra/policy.cjs') as {
    policyJson(file: string): string | undefined;
  };

  it('validates the packaged policy.yml and embeds it as JSON with its defaults', () => {
    expect(parsePolicy(JSON.parse(policyJson('policy.yml')!))).toEqual(JSON.parse(policyJson('policy.yml')!));
  });

  it('embeds nothing when the file does not exist', () => {
    expect(policyJson('no-such-policy.yml')).toBeUndefined();
  });
});
