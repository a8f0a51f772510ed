import { describe, expect, it } from 'vitest';
import type { ChaosResult } from '../../src/cli/chaos.ts';
import { handoff, jsonOf } from './support.ts';

/**
 * `handoff demo --scenario chaos --json` as a user runs it: many interruptions under injected
 * API faults, throttling, duplicate, out-of-order and lost events and crashes between steps.
 */
describe('handoff demo --scenario chaos', () => {
  it('--json: every workflow accounted for, zero double launches, zero lost resources', async () => {
    const run = await handoff(['demo', '--scenario', 'chaos', '--json', '--speed', 'max']);

    expect(run.code, run.stderr).toBe(0);
    const result = jsonOf<ChaosResult>(run);
    expect(result).toMatchObject({
      ok: true,
      scenario: 'chaos',
      doubleLaunches: 0,
      lostResources: [],
      unaccounted: [],
    });
    expect(result.interrupted.length).toBeGreaterThanOrEqual(5);
    // Every interrupted instance has its workflow: completed, or open with its reason recorded.
    expect(result.workflows.map((w) => w.instanceId).sort()).toEqual([...result.interrupted].sort());
    for (const workflow of result.workflows) {
      expect(workflow.status === 'completed' || workflow.reason !== undefined, workflow.instanceId).toBe(
        true,
      );
    }
    const replacements = result.workflows.flatMap((w) => (w.replacementId ? [w.replacementId] : []));
    expect(new Set(replacements).size).toBe(replacements.length);
    // The chaos happened: faults made invocations fail and be retried, events were duplicated,
    // delayed and lost.
    expect(result.chaos.failedInvocations).toBeGreaterThan(0);
    expect(result.chaos).toMatchObject({
      duplicatedEvents: expect.any(Number),
      delayedEvents: 1,
      lostEvents: expect.any(Number),
    });
    expect(result.chaos.duplicatedEvents).toBeGreaterThan(0);
    expect(result.chaos.lostEvents).toBeGreaterThan(1);
  });

  it('--scenario unknown: exit 2 naming the scenarios', async () => {
    const run = await handoff(['demo', '--scenario', 'mayhem']);

    expect(run.code).toBe(2);
    expect(run.stderr).toContain('basic, stateful, chaos, capacity or unhealthy');
  });
});
