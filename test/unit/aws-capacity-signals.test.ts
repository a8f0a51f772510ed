import {
  EC2Client,
  GetInstanceTypesFromInstanceRequirementsCommand,
  type GetInstanceTypesFromInstanceRequirementsCommandInput,
} from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { CapacitySignalCache, Ec2CapacitySignals } from '../../src/aws/capacity-signals.ts';
import type { InstanceRequirements } from '../../src/core/policy.ts';

/**
 * The expansion of a group's attribute requirements into instance types: what is asked of EC2,
 * every page read, and the container's cache (a stale answer is served at once and read afresh).
 */

const ec2 = mockClient(EC2Client);
afterEach(() => ec2.reset());

const REQUIREMENTS: InstanceRequirements = {
  vCpu: { min: 2, max: 4 },
  memoryMiB: { min: 8192 },
  architecture: 'arm64',
  excludedFamilies: ['c6g', 'm7*'],
};

function signals(cache: CapacitySignalCache, now: { ms: number }) {
  return new Ec2CapacitySignals({
    client: new EC2Client({ region: 'us-east-1' }),
    clock: { now: () => new Date(now.ms), sleep: async () => {} },
    cache,
    instanceTypesCacheMs: 60_000,
  });
}

const sent = () =>
  ec2
    .commandCalls(GetInstanceTypesFromInstanceRequirementsCommand)
    .map((c) => c.args[0].input as GetInstanceTypesFromInstanceRequirementsCommandInput);

describe('Ec2CapacitySignals.instanceTypesFor', () => {
  it('asks EC2 for the requirements as its own, families as type patterns, and reads every page', async () => {
    // Prepare
    ec2
      .on(GetInstanceTypesFromInstanceRequirementsCommand)
      .resolvesOnce({ InstanceTypes: [{ InstanceType: 'r6g.large' }], NextToken: 'p2' })
      .resolvesOnce({ InstanceTypes: [{ InstanceType: 'm6g.large' }] });

    // Act
    const types = await signals(new CapacitySignalCache(), { ms: 0 }).instanceTypesFor(REQUIREMENTS);

    // Assess
    expect(types).toEqual(['m6g.large', 'r6g.large']);
    expect(sent()).toEqual([
      {
        ArchitectureTypes: ['arm64'],
        VirtualizationTypes: ['hvm'],
        InstanceRequirements: {
          VCpuCount: { Min: 2, Max: 4 },
          MemoryMiB: { Min: 8192 },
          ExcludedInstanceTypes: ['c6g.*', 'm7*.*'],
        },
      },
      expect.objectContaining({ NextToken: 'p2' }),
    ]);
  });

  it('answers from the container cache across invocations, then serves the stale answer while it reads afresh', async () => {
    // Prepare
    ec2
      .on(GetInstanceTypesFromInstanceRequirementsCommand)
      .resolvesOnce({ InstanceTypes: [{ InstanceType: 'm6g.large' }] })
      .resolvesOnce({ InstanceTypes: [{ InstanceType: 'm6g.large' }, { InstanceType: 'r6g.large' }] });
    const cache = new CapacitySignalCache();
    const now = { ms: 0 };

    // Act
    const first = await signals(cache, now).instanceTypesFor(REQUIREMENTS);
    now.ms = 30_000;
    const fresh = await signals(cache, now).instanceTypesFor(REQUIREMENTS);
    now.ms = 90_000;
    const stale = await signals(cache, now).instanceTypesFor(REQUIREMENTS);
    await new Promise<void>((resolve) => setImmediate(resolve));
    const refreshed = await signals(cache, now).instanceTypesFor(REQUIREMENTS);

    // Assess
    expect(first).toEqual(['m6g.large']);
    expect(fresh).toEqual(['m6g.large']);
    expect(stale).toEqual(['m6g.large']);
    expect(refreshed).toEqual(['m6g.large', 'r6g.large']);
    expect(sent()).toHaveLength(2);
  });

  it('keeps the stale answer when the refresh fails, and fails the first read when EC2 does', async () => {
    // Prepare
    ec2
      .on(GetInstanceTypesFromInstanceRequirementsCommand)
      .resolvesOnce({ InstanceTypes: [{ InstanceType: 'm6g.large' }] })
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'RequestLimitExceeded' }))
      .rejectsOnce(Object.assign(new Error('Rate exceeded'), { name: 'RequestLimitExceeded' }));
    const cache = new CapacitySignalCache();
    const now = { ms: 0 };
    await signals(cache, now).instanceTypesFor(REQUIREMENTS);
    now.ms = 90_000;

    // Act
    const stale = await signals(cache, now).instanceTypesFor(REQUIREMENTS);
    await new Promise<void>((resolve) => setImmediate(resolve));
    const other = signals(new CapacitySignalCache(), now).instanceTypesFor(REQUIREMENTS);

    // Assess
    expect(stale).toEqual(['m6g.large']);
    await expect(other).rejects.toThrow('Rate exceeded');
  });
});
