import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Signal } from '../../src/core/events.ts';
import { handOff } from '../../src/core/handoff.ts';
import { fakeWorld } from '../support/fakes.ts';
import { rebalance, stateChange, warning } from '../support/signals.ts';

const TG = 'arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef';

type Move =
  | {
      kind: 'deliver';
      event: 'warning' | 'warning-duplicate' | 'rebalance' | 'old-state' | 'replacement-state';
    }
  | { kind: 'concurrent'; events: ('warning' | 'rebalance' | 'replacement-state')[] }
  | { kind: 'ec2-progress' }
  | { kind: 'crash-after'; writes: number }
  | { kind: 'launch-fault' };

const moveArb: fc.Arbitrary<Move> = fc.oneof(
  fc.record({
    kind: fc.constant('deliver' as const),
    event: fc.constantFrom(
      'warning',
      'warning-duplicate',
      'rebalance',
      'old-state',
      'replacement-state',
    ) as fc.Arbitrary<'warning' | 'warning-duplicate' | 'rebalance' | 'old-state' | 'replacement-state'>,
  }),
  fc.record({
    kind: fc.constant('concurrent' as const),
    events: fc.array(
      fc.constantFrom('warning', 'rebalance', 'replacement-state') as fc.Arbitrary<
        'warning' | 'rebalance' | 'replacement-state'
      >,
      { minLength: 2, maxLength: 4 },
    ),
  }),
  fc.constant({ kind: 'ec2-progress' as const }),
  fc.record({ kind: fc.constant('crash-after' as const), writes: fc.integer({ min: 0, max: 3 }) }),
  fc.constant({ kind: 'launch-fault' as const }),
);

describe('the handoff under any interleaving', () => {
  it('ends with exactly one replacement serving, the old instance drained, and one completed workflow', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(moveArb, { maxLength: 25 }), async (moves) => {
        const world = fakeWorld();
        world.elb.addGroup(TG);
        const old = world.ec2.add();
        world.elb.groups.get(TG)!.registrations.push({
          target: { targetGroupArn: TG, targetType: 'instance', id: old.instanceId, port: 80 },
          state: 'healthy',
        });
        const warningEvent = warning(old.instanceId, 'warning-1');
        /** Events whose delivery failed; EventBridge retries them. */
        const retries: Signal[][] = [];

        const signalFor = (event: string): Signal[] => {
          switch (event) {
            case 'warning':
              return [warning(old.instanceId)];
            case 'warning-duplicate':
              return [warningEvent];
            case 'rebalance':
              return [rebalance(old.instanceId)];
            case 'old-state': {
              const state = world.ec2.instances.get(old.instanceId)!.state;
              return [stateChange(old.instanceId, state)];
            }
            default:
              return world.ec2.replacementsOf(old.instanceId).map((r) => stateChange(r.instanceId, r.state));
          }
        };
        const deliver = async (batch: Signal[]) => {
          if (batch.length === 0) return;
          try {
            await handOff(batch, world.deps);
          } catch {
            retries.push(batch);
          }
        };

        for (const move of moves) {
          if (move.kind === 'deliver') await deliver(signalFor(move.event));
          if (move.kind === 'concurrent') await Promise.all(move.events.map((e) => deliver(signalFor(e))));
          if (move.kind === 'crash-after') world.store.crashAfterWrites = world.store.writes + move.writes;
          if (move.kind === 'launch-fault') world.ec2.failures = 1;
          if (move.kind === 'ec2-progress') {
            for (const r of world.ec2.replacementsOf(old.instanceId))
              world.ec2.setState(r.instanceId, 'running');
          }
        }

        // Then the interruption runs its course and every failed delivery is retried until it lands.
        world.store.crashAfterWrites = Number.POSITIVE_INFINITY;
        world.ec2.failures = 0;
        await deliver([warningEvent]);
        for (const r of world.ec2.replacementsOf(old.instanceId)) world.ec2.setState(r.instanceId, 'running');
        await deliver(signalFor('replacement-state'));
        world.ec2.setState(old.instanceId, 'terminated', 'Server.SpotInstanceTermination');
        await deliver(signalFor('old-state'));
        for (let round = 0; round < 5 && retries.length > 0; round++) {
          for (const batch of retries.splice(0)) await deliver(batch);
        }

        const replacements = world.ec2.replacementsOf(old.instanceId);
        expect(retries).toEqual([]);
        expect(replacements).toHaveLength(1);
        expect(world.elb.serving(TG)).toEqual([replacements[0]!.instanceId]);
        expect(world.store.items.size).toBe(1);
        const workflow = (await world.store.get(`wf-${old.instanceId}`))!;
        expect(workflow).toMatchObject({ status: 'completed', outcome: 'replaced', drained: true });
        expect(workflow.replacement?.instanceId).toBe(replacements[0]!.instanceId);
        expect(await world.store.workflowOfReplacement(replacements[0]!.instanceId)).toBe(
          workflow.workflowId,
        );
      }),
      { numRuns: 300 },
    );
  });
});
