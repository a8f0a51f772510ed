import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { giveState } from '../../localcloud/scenarios/stateful.ts';
import { ec2Event, type FleetWorld, fleetWorld } from '../support/local.ts';

/**
 * Never lose anything: whatever the interleaving of events, duplicates, lost events, API faults
 * (which kill an invocation between two steps, like a crash) and capacity, every volume, interface,
 * private IP and Elastic IP a workflow touches ends attached to exactly one live instance, or
 * available, tagged with its workflow, with the reason recorded — and there is one replacement.
 */

const FAULTABLE = [
  'DescribeInstances',
  'RunInstances',
  'ModifyInstanceAttribute',
  'CreateTags',
  'AttachVolume',
  'DetachVolume',
  'AttachNetworkInterface',
  'DetachNetworkInterface',
  'AssignPrivateIpAddresses',
  'AssociateAddress',
  'CreateSnapshot',
  'CreateVolume',
] as const;

const scenarioArb = fc.record({
  action: fc.constantFrom('terminate', 'stop') as fc.Arbitrary<'terminate' | 'stop'>,
  rebalance: fc.boolean(),
  noCapacityAtHome: fc.boolean(),
  /** Faults: each kills the call `times` times; more than the SDK's 5 attempts fails the invocation. */
  faults: fc.array(
    fc.record({
      action: fc.constantFrom(...FAULTABLE),
      times: fc.integer({ min: 1, max: 8 }),
      atSecond: fc.integer({ min: 0, max: 200 }),
    }),
    { maxLength: 4 },
  ),
  /** Extra copies of the warning, delivered at these seconds after the interruption. */
  duplicateWarningsAt: fc.array(fc.integer({ min: 0, max: 300 }), { maxLength: 3 }),
  /** Lose EC2's own warning, or the state changes of the old instance. */
  loseWarning: fc.boolean(),
  loseOldStateChanges: fc.boolean(),
});

let world: FleetWorld | undefined;
/** Replayable: `HANDOFF_PROPERTY_SEED` (printed by fast-check on a failure) and `HANDOFF_PROPERTY_RUNS`. */
function propertyRun(env: Record<string, string | undefined>) {
  const whole = (name: string, fallback: number | undefined) => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const value = Number(raw);
    if (!Number.isSafeInteger(value) || value < (name.endsWith('RUNS') ? 1 : -(2 ** 31))) {
      throw new Error(
        `${name}=${JSON.stringify(raw)} is not valid: use a whole number${name.endsWith('RUNS') ? ' of at least 1' : ''}.`,
      );
    }
    return value;
  };
  const numRuns = whole('HANDOFF_PROPERTY_RUNS', 12)!;
  const seed = whole('HANDOFF_PROPERTY_SEED', undefined);
  // Only a run that hangs is stopped: each scenario is given far more than it needs.
  return { numRuns, seed, timeoutMs: 60_000 + numRuns * 60_000 };
}
const RUN = propertyRun(process.env);

afterEach(async () => {
  await world?.stop();
  world = undefined;
});

describe('the stateful handoff under any interleaving', () => {
  it(
    'never loses a volume, interface, private IP or Elastic IP, and launches one replacement',
    async () => {
      await fc.assert(
        fc.asyncProperty(scenarioArb, async (scenario) => {
          // Some signal of the interruption must reach us (all lost: see the guard test).
          fc.pre(!(scenario.loseWarning && scenario.loseOldStateChanges && !scenario.rebalance));
          await world?.stop();
          world = await fleetWorld({ tags: { 'spot-handoff:stateful': 'true' }, size: 1 });
          const w = world;
          const victim = w.fleet.instanceIds[0]!;
          const state = await giveState(w.ec2, victim, w.until);
          await w.pass(5_000);
          const cloud = w.stack.cloud;
          if (scenario.noCapacityAtHome)
            cloud.setCapacity({ availabilityZone: state.availabilityZone }, false);
          w.stack.deliverIf = (event) => {
            if (event['detail-type'] === 'EC2 Spot Instance Interruption Warning')
              return !scenario.loseWarning;
            const isOld =
              event['detail-type'] === 'EC2 Instance State-change Notification' &&
              event.detail['instance-id'] === victim;
            return !(isOld && scenario.loseOldStateChanges);
          };

          const t0 = cloud.clock.now().getTime();
          const due = [
            ...scenario.faults.map((f) => ({
              at: f.atSecond,
              run: () => cloud.injectFault(f.action, 'InternalError', f.times),
            })),
            ...scenario.duplicateWarningsAt.map((at) => ({
              at,
              run: () =>
                w.stack.bus.put(
                  ec2Event('EC2 Spot Instance Interruption Warning', {
                    'instance-id': victim,
                    'instance-action': scenario.action,
                  }),
                ),
            })),
          ].sort((a, b) => a.at - b.at);
          cloud.interrupt(victim, {
            action: scenario.action,
            rebalance: scenario.rebalance,
            rebalanceLeadMs: 30_000,
          });
          await w.until(
            async () => {
              const elapsed = (cloud.clock.now().getTime() - t0) / 1000;
              while (due.length > 0 && due[0]!.at <= elapsed) due.shift()!.run();
              const workflow = await w.workflowOf(victim);
              const oldDone = ['terminated', 'stopped'].includes(
                cloud.ec2.instance(victim)?.state ?? 'terminated',
              );
              return due.length === 0 && oldDone && workflow?.status === 'completed';
            },
            'the handoff to complete',
            30 * 60_000,
          );

          // Exactly one replacement.
          const replacements = w.replacementsOf(victim);
          expect(replacements).toHaveLength(1);
          const workflow = (await w.workflowOf(victim))!;
          const live = new Set(
            w
              .instances()
              .filter((i) => !['terminated', 'shutting-down'].includes(i.state))
              .map((i) => i.instanceId),
          );
          const reasonFor = (kind: string) => workflow.handover!.resources.find((r) => r.kind === kind);

          // The volume: attached to a live instance, or available, tagged, with a reason (or a restored copy attached).
          const volumes = cloud.ec2.volumes();
          const original = volumes.find((v) => v.volumeId === state.volumeId);
          expect(original, 'the original volume still exists').toBeDefined();
          const volumeRecord = reasonFor('volume')!;
          if (original!.attachment) expect(live.has(original!.attachment.instanceId)).toBe(true);
          else {
            expect(original!.state).toBe('available');
            expect(original!.tags['spot-handoff:workflow']).toBe(workflow.workflowId);
            const restored = volumeRecord.kind === 'volume' ? volumeRecord.restoredVolumeId : undefined;
            expect(restored, 'an unattached original has a restored copy').toBeDefined();
            expect(volumes.find((v) => v.volumeId === restored)?.attachment?.instanceId).toBe(
              replacements[0]!.instanceId,
            );
          }

          // The interface: attached to a live instance, or available, tagged, with the reason recorded.
          const eni = cloud.ec2.interfaces().find((e) => e.networkInterfaceId === state.networkInterfaceId);
          expect(eni, 'the interface still exists').toBeDefined();
          if (eni!.attachment) expect(live.has(eni!.attachment.instanceId)).toBe(true);
          else {
            expect(eni!.tags['spot-handoff:workflow']).toBe(workflow.workflowId);
            expect(reasonFor('network-interface')).toMatchObject({
              status: 'left-available',
              reason: expect.any(String),
            });
          }

          // The secondary private IP: held by at most one live instance; if by none, recorded with the reason.
          const holders = w
            .instances()
            .filter((i) => live.has(i.instanceId) && i.privateIps.includes(state.secondaryPrivateIp));
          expect(holders.length).toBeLessThanOrEqual(1);
          if (holders.length === 0)
            expect(reasonFor('private-ip')).toMatchObject({ status: 'left-available' });

          // The Elastic IP: still allocated, and on the replacement.
          const address = cloud.ec2.addresses().find((a) => a.allocationId === state.allocationId);
          expect(address, 'the Elastic IP is still allocated').toBeDefined();
          expect(address!.instanceId).toBe(replacements[0]!.instanceId);

          // Every resource record has settled, and the replacement joined only after the handover.
          expect(
            workflow.handover!.resources.every(
              (r) => r.status === 'attached' || r.status === 'left-available',
            ),
          ).toBe(true);
          const names = workflow.steps.map((s) => s.name);
          expect(names.lastIndexOf('handover')).toBeLessThan(names.lastIndexOf('register'));
        }),
        {
          numRuns: RUN.numRuns,
          endOnFailure: true,
          ...(RUN.seed === undefined ? {} : { seed: RUN.seed }),
        },
      );
    },
    RUN.timeoutMs,
  );
});
