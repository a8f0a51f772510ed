import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ApiBudget, urgencyOf } from '../../src/aws/api-budget.ts';
import { isThrottle } from '../../src/aws/errors.ts';

/** A container's API budget: AWS's buckets on this side of the wire, most urgent first. */

let now = 0;
beforeEach(() => {
  vi.useFakeTimers();
  now = 0;
});
afterEach(() => {
  vi.useRealTimers();
});

/** Moves the budget's clock and its timers on together. */
async function advance(ms: number): Promise<void> {
  now += ms;
  await vi.advanceTimersByTimeAsync(ms);
}

/** Starts a take and records when it was granted. */
function track(budget: ApiBudget, service: 'ec2' | 'elbv2', action: string, granted: string[]) {
  void budget.take(service, action).then(() => granted.push(action));
}

describe('the API budget', () => {
  it('names what each call is for', () => {
    expect(urgencyOf('DeregisterTargets')).toBe('drain');
    expect(urgencyOf('CreateFleet')).toBe('launch');
    expect(urgencyOf('RunInstances')).toBe('launch');
    expect(urgencyOf('AttachVolume')).toBe('handover');
    expect(urgencyOf('RegisterTargets')).toBe('handover');
    expect(urgencyOf('DescribeInstances')).toBe('describe');
  });

  it('sends at once while the bucket holds tokens, then waits for the refill instead of failing', async () => {
    // Prepare: RunInstances, 5 requests then 2 a second (all of it: share 1).
    const budget = new ApiBudget({ share: 1, now: () => now });
    const granted: string[] = [];

    // Act
    for (let i = 0; i < 7; i++) track(budget, 'ec2', 'RunInstances', granted);
    await advance(0);

    // Assess
    expect(granted).toHaveLength(5);
    await advance(499);
    expect(granted).toHaveLength(5);
    await advance(1);
    expect(granted).toHaveLength(6);
    await advance(500);
    expect(granted).toHaveLength(7);
  });

  it('gives a waiting drain the next token before a handover that waited longer', async () => {
    // Prepare: ELBv2's mutating calls, 20 then 5 a second; spend them all.
    const budget = new ApiBudget({ share: 1, now: () => now });
    const granted: string[] = [];
    for (let i = 0; i < 20; i++) await budget.take('elbv2', 'ModifyTargetGroupAttributes');

    // Act
    track(budget, 'elbv2', 'RegisterTargets', granted);
    track(budget, 'elbv2', 'DeregisterTargets', granted);
    await advance(200);

    // Assess
    expect(granted).toEqual(['DeregisterTargets']);
    await advance(200);
    expect(granted).toEqual(['DeregisterTargets', 'RegisterTargets']);
  });

  it("spends only its share of each bucket, so containers together stay within AWS's", async () => {
    // Prepare: half of EC2's CreateTags bucket (100, then 10 a second).
    const budget = new ApiBudget({ share: 0.5, now: () => now });
    const granted: string[] = [];

    // Act
    for (let i = 0; i < 51; i++) track(budget, 'ec2', 'CreateTags', granted);
    await advance(0);

    // Assess
    expect(granted).toHaveLength(50);
    await advance(200);
    expect(granted).toHaveLength(51);
  });

  it('keeps a burst of 5 however small its share, and refills at its share', async () => {
    // Prepare: 1/20 of EC2's mutating bucket (50, then 5 a second) is 2.5 requests and 0.25 a second.
    const budget = new ApiBudget({ share: 1 / 20, now: () => now });
    const granted: string[] = [];

    // Act
    for (let i = 0; i < 6; i++) track(budget, 'ec2', 'AttachVolume', granted);
    await advance(0);

    // Assess: a lone handover's five calls go out at once; the sixth waits for the refill.
    expect(granted).toHaveLength(5);
    await advance(3_000);
    expect(granted).toHaveLength(5);
    await advance(1_000);
    expect(granted).toHaveLength(6);
  });

  it("gives up a wait that would outlive the invocation, as throttled work, and keeps the others' turn", async () => {
    // Prepare: RunInstances (5, then 2 a second), its burst spent; the invocation has 1.2 s left.
    const budget = new ApiBudget({ share: 1, now: () => now });
    for (let i = 0; i < 5; i++) await budget.take('ec2', 'RunInstances');
    budget.endWaitsIn(1_200);
    const outcomes: string[] = [];

    // Act: three wait; tokens come at 0.5 s and 1 s, the third not before the deadline.
    for (let i = 0; i < 3; i++) {
      budget.take('ec2', 'RunInstances').then(
        () => outcomes.push('sent'),
        (error: unknown) => outcomes.push(isThrottle(error) ? 'left to come back' : 'failed'),
      );
    }
    await advance(1_300);

    // Assess
    expect(outcomes).toEqual(['sent', 'sent', 'left to come back']);
    budget.endWaitsIn(undefined);
    await advance(500);
    await expect(budget.take('ec2', 'RunInstances')).resolves.toBeUndefined();
  });

  it('refuses a share outside (0, 1]', () => {
    expect(() => new ApiBudget({ share: 0 })).toThrow('API budget share must be in (0, 1], got 0');
    expect(() => new ApiBudget({ share: 1.5 })).toThrow(RangeError);
  });
});
