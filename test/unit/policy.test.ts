import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readConfig } from '../../src/config.ts';
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
            instanceRequirements: { vCpu: { min: 2 }, memoryMiB: { min: 4096 }, architecture: 'x86_64' },
          },
        },
      }),
    ).toThrow('groups.web: give instanceTypes or instanceRequirements, not both');
  });

  const REQUIREMENTS = { vCpu: { min: 2, max: 4 }, memoryMiB: { min: 8192 }, architecture: 'x86_64' };

  it('accepts attribute requirements with families allowed or excluded', () => {
    const policy = parsePolicy({
      groups: { web: { instanceRequirements: { ...REQUIREMENTS, excludedFamilies: ['t3', 'c5*'] } } },
    });

    expect(policy.groups['web']!.instanceRequirements).toEqual({
      ...REQUIREMENTS,
      excludedFamilies: ['t3', 'c5*'],
    });
  });

  it.each([
    [
      { architecture: undefined },
      'groups.web.instanceRequirements.architecture: required: "x86_64" or "arm64"',
    ],
    [
      { architecture: 'amd64' },
      'groups.web.instanceRequirements.architecture: must be one of "x86_64", "arm64"',
    ],
    [{ vCpu: { min: 4, max: 2 } }, 'groups.web.instanceRequirements.vCpu: max must not be below min'],
    [{ memoryMiB: { min: -1 } }, 'groups.web.instanceRequirements.memoryMiB.min: a whole number, 0 or more'],
    [
      { memoryMiB: { min: 1024, unit: 'GiB' } },
      'groups.web.instanceRequirements.memoryMiB: unknown field(s) unit',
    ],
    [
      { allowedFamilies: ['m6i.large'] },
      'groups.web.instanceRequirements.allowedFamilies.0: an instance family such as m6i, or c7*',
    ],
    [{ excludedFamilies: [] }, 'groups.web.instanceRequirements.excludedFamilies: at least one family'],
    [
      { allowedFamilies: ['m*'], excludedFamilies: ['m5'] },
      'groups.web.instanceRequirements: give allowedFamilies or excludedFamilies, not both',
    ],
  ])('names the bad requirements field of %j with what is allowed', (bad, named) => {
    const attempt = () =>
      parsePolicy({ groups: { web: { instanceRequirements: { ...REQUIREMENTS, ...bad } } } });

    expect(attempt).toThrow(PolicyError);
    expect(attempt).toThrow(named);
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

  it('fails packaging on a bad requirements field, naming it and the file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'policy-'));
    const file = join(dir, 'policy.yml');
    writeFileSync(
      file,
      'groups:\n  web:\n    instanceRequirements:\n      vCpu: { min: 2 }\n      memoryMiB: { min: 4096 }\n      allowedFamilies: [m6i.large]\n',
    );
    try {
      const relativeToRepo = relative(fileURLToPath(new URL('../../', import.meta.url)), file);

      expect(() => policyJson(relativeToRepo)).toThrow(
        /policy\.yml: The replacement policy is not valid:[\s\S]*groups\.web\.instanceRequirements\.architecture: required[\s\S]*groups\.web\.instanceRequirements\.allowedFamilies\.0: an instance family/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a function starting (readConfig)', () => {
  it('refuses a bad requirements field in HANDOFF_POLICY, naming it', () => {
    const policy = {
      groups: {
        web: { instanceRequirements: { vCpu: { min: 2 }, memoryMiB: { min: 0 }, architecture: 'arm' } },
      },
    };

    expect(() => readConfig({ HANDOFF_TABLE_NAME: 't', HANDOFF_POLICY: JSON.stringify(policy) })).toThrow(
      /groups\.web\.instanceRequirements\.architecture: must be one of "x86_64", "arm64"[\s\S]*Fix policy\.yml/,
    );
  });
});
