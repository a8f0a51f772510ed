import { RunInstancesCommand } from '@aws-sdk/client-ec2';
import { CreateTargetGroupCommand, RegisterTargetsCommand } from '@aws-sdk/client-elastic-load-balancing-v2';
import { afterEach, describe, expect, it } from 'vitest';
import { createClients } from '../../src/aws/clients.ts';
import { awsHandoffDeps } from '../../src/aws/handoff-deps.ts';
import { DynamoRegistrationIndex } from '../../src/aws/registration-index.ts';
import { giveFleetState, runUntil } from '../../src/cli/local-stack.ts';
import { takeEvents } from '../../src/core/intake.ts';
import type { HandoffDeps, Log, Target } from '../../src/core/ports.ts';
import { keepRegistrationIndex } from '../../src/core/registration-index.ts';
import { CountingMetrics, silentLog } from '../support/fakes.ts';
import { ec2Event, type FleetWorld, fleetWorld } from '../support/local.ts';
import { RoundTrips } from '../support/round-trips.ts';

/**
 * The drain at delivery through the real adapters, the local cloud and dynalite: the sweep indexes
 * where each managed instance serves; a warning then deregisters it in its second sequential round
 * trip to AWS (EC2, ELBv2 and DynamoDB requests all count), stateless or stateful, alone or in a batch.
 */

const WARNING = 'EC2 Spot Instance Interruption Warning';
const REBALANCE = 'EC2 Instance Rebalance Recommendation';

let world: FleetWorld;
let destroy: (() => void) | undefined;
afterEach(async () => {
  destroy?.();
  destroy = undefined;
  await world?.stop();
});

/** The handoff's ports over the local cloud, with every request's round trip tracked. */
function trackedDeps(): { deps: HandoffDeps; trips: RoundTrips; clients: ReturnType<typeof createClients> } {
  const clients = createClients(world.stack.clients);
  destroy = () => {
    clients.ec2.destroy();
    clients.elbv2.destroy();
    clients.dynamodb.destroy();
  };
  const trips = new RoundTrips();
  trips.track(clients);
  const deps = awsHandoffDeps({
    config: world.stack.config,
    clients,
    log: silentLog satisfies Log,
    metrics: new CountingMetrics(),
    clock: world.stack.clock,
  });
  return { deps, trips, clients };
}

const deployment = () => ({ account: world.stack.cloud.accountId, region: world.stack.cloud.region });
/** Delivered now (the intake reads an event dated far from now as a re-examination only). */
const now = () => ({ time: world.stack.clock.now().toISOString() });
const warningOf = (instanceId: string) =>
  ec2Event(WARNING, { 'instance-id': instanceId, 'instance-action': 'terminate' }, now());

/** Registrations of `id` (an instance id or IP) in a target group that still serve (not draining). */
function serving(targetGroupArn: string, id: string): boolean {
  const targets = world.stack.cloud.elbv2.targetGroupOf(targetGroupArn)?.targets ?? [];
  return targets.some((t) => t.id === id && t.state !== 'draining');
}

/** An `ip` target group in the fleet's VPC with each instance's primary private IP on port 8080. */
async function ipTargetGroup(
  instanceIds: readonly string[],
  name = 'pods',
): Promise<{ arn: string; ips: string[] }> {
  const group = await world.elbv2.send(
    new CreateTargetGroupCommand({
      Name: name,
      Protocol: 'HTTP',
      Port: 8080,
      VpcId: world.fleet.vpcId,
      TargetType: 'ip',
    }),
  );
  const arn = group.TargetGroups![0]!.TargetGroupArn!;
  const ips = instanceIds.map((id) => world.stack.cloud.ec2.instance(id)!.privateIpAddress!);
  await world.elbv2.send(
    new RegisterTargetsCommand({ TargetGroupArn: arn, Targets: ips.map((Id) => ({ Id, Port: 8080 })) }),
  );
  return { arn, ips };
}

describe('a warning for an instance the registration index knows', () => {
  it.each([
    ['stateless', {}],
    ['stateful', { 'spot-handoff:stateful': 'true' }],
  ])('deregisters a %s instance in the second round trip, everywhere it serves', async (_, tags) => {
    world = await fleetWorld({ tags });
    const [victim, other] = world.fleet.instanceIds as [string, string];
    const stateful = 'spot-handoff:stateful' in tags;
    const state = stateful ? await giveFleetState(world.stack, world.ec2, victim) : undefined;
    const pods = await ipTargetGroup([victim, other]);
    const { deps, trips } = trackedDeps();
    await keepRegistrationIndex(deps);
    trips.reset();

    const result = await takeEvents([warningOf(victim)], ['warning'], deps, deployment());

    // Both target groups' DeregisterTargets went out in round trip 2 (after DescribeInstances ∥ BatchGetItem).
    expect(trips.of('DeregisterTargets')).toEqual([2, 2]);
    expect(trips.requests.filter((r) => r.roundTrip === 1).map((r) => r.action)).toEqual(
      expect.arrayContaining(['DescribeInstances', 'BatchGetItem']),
    );
    expect(serving(world.fleet.targetGroupArn, victim)).toBe(false);
    expect(serving(pods.arn, pods.ips[0]!)).toBe(false);
    expect(serving(world.fleet.targetGroupArn, other)).toBe(true);
    expect(serving(pods.arn, pods.ips[1]!)).toBe(true);
    // The workflow knows where the instance served (its replacement registers there) and is drained.
    const workflow = await world.workflowOf(victim);
    expect(result.outcomes).toHaveLength(1);
    expect(workflow).toMatchObject({ drained: true });
    expect(workflow!.targets!.map((t) => t.targetGroupArn).sort()).toEqual(
      [world.fleet.targetGroupArn, pods.arn].sort(),
    );
    if (state) {
      // Protection still comes before anything can be lost (and before EC2 reclaims the instance):
      // everything that moves survives the instance's termination.
      const protect = workflow!.steps.find((s) => s.name === 'protect');
      expect(protect?.status).toBe('done');
      expect(Date.parse(protect!.at)).toBeLessThan(Date.parse(workflow!.deadlines!.reclaimAt!));
      const instance = world.stack.cloud.ec2.instance(victim)!;
      expect(instance.volumes.find((v) => v.volumeId === state.volumeId)?.deleteOnTermination).toBe(false);
      const eni = instance.networkInterfaces.find((n) => n.networkInterfaceId === state.networkInterfaceId);
      expect(eni?.deleteOnTermination).toBe(false);
    }
  });

  it('keeps where it served for its replacement, though a deregistration delay of 0 removes the target at once', async () => {
    world = await fleetWorld({ deregistrationDelaySeconds: 0 });
    const victim = world.fleet.instanceIds[0]!;
    const { deps, trips } = trackedDeps();
    await keepRegistrationIndex(deps);
    trips.reset();

    await takeEvents([warningOf(victim)], ['warning'], deps, deployment());

    expect(trips.of('DeregisterTargets')).toEqual([2]);
    expect(world.targets().map((t) => t.id)).not.toContain(victim);
    const workflow = await world.workflowOf(victim);
    expect(workflow!.targets).toEqual([
      { targetGroupArn: world.fleet.targetGroupArn, targetType: 'instance', id: victim, port: 80 },
    ]);
  });

  it('without an entry, is drained after discovery as before', async () => {
    world = await fleetWorld();
    const victim = world.fleet.instanceIds[0]!;
    const { deps, trips } = trackedDeps();

    await takeEvents([warningOf(victim)], ['warning'], deps, deployment());

    expect(trips.of('DeregisterTargets')).toHaveLength(1);
    expect(trips.of('DeregisterTargets')[0]).toBeGreaterThan(2);
    expect(serving(world.fleet.targetGroupArn, victim)).toBe(false);
  });

  it('whose warning was lost is deregistered in the second round trip of the state change that shows its reclaim', async () => {
    world = await fleetWorld();
    const victim = world.fleet.instanceIds[0]!;
    const { deps, trips } = trackedDeps();
    await keepRegistrationIndex(deps);
    world.stack.deliverIf = () => false;
    world.stack.cloud.interrupt(victim);
    await world.until(
      () => world.stack.cloud.ec2.instance(victim)?.state === 'shutting-down',
      'EC2 to begin terminating the instance',
    );
    trips.reset();

    const change = ec2Event(
      'EC2 Instance State-change Notification',
      { 'instance-id': victim, state: 'shutting-down' },
      now(),
    );
    await takeEvents([change], ['state-change'], deps, deployment());

    expect(trips.of('DeregisterTargets')).toEqual([2]);
    expect(serving(world.fleet.targetGroupArn, victim)).toBe(false);
  });

  it('drains nothing early on a rebalance recommendation', async () => {
    world = await fleetWorld({}, { HANDOFF_REBALANCE_ACTION: 'prelaunch' });
    const victim = world.fleet.instanceIds[0]!;
    const { deps, trips } = trackedDeps();
    await keepRegistrationIndex(deps);
    trips.reset();

    await takeEvents(
      [ec2Event(REBALANCE, { 'instance-id': victim }, now())],
      ['rebalance'],
      deps,
      deployment(),
    );

    expect(trips.of('DeregisterTargets')).toEqual([]);
    expect(serving(world.fleet.targetGroupArn, victim)).toBe(true);
  });
});

describe('a stale registration index', () => {
  it('still drains the instance everywhere, and nothing else, when the index misses a group or names one it left', async () => {
    world = await fleetWorld();
    const [victim, other] = world.fleet.instanceIds as [string, string];
    const { deps, clients } = trackedDeps();
    // The index knows the fleet's group only, and a group the victim has left (another instance
    // and its IP serve there): the ip group it serves in now is missing.
    const left = await ipTargetGroup([other], 'left');
    const pods = await ipTargetGroup([victim]);
    const victimIp = world.stack.cloud.ec2.instance(victim)!.privateIpAddress!;
    const index = new DynamoRegistrationIndex({
      client: clients.documentClient,
      tableName: world.stack.config.tableName,
      clock: () => world.stack.clock.now().getTime(),
    });
    const entry: Target[] = [
      { targetGroupArn: world.fleet.targetGroupArn, targetType: 'instance', id: victim, port: 80 },
      { targetGroupArn: left.arn, targetType: 'ip', id: victimIp, port: 8080 },
      // Someone else's targets in a forged or mixed-up entry are never taken for the victim's.
      { targetGroupArn: world.fleet.targetGroupArn, targetType: 'instance', id: other, port: 80 },
      { targetGroupArn: left.arn, targetType: 'ip', id: left.ips[0]!, port: 8080 },
    ];
    await index.write(new Map([[victim, entry]]), Math.floor(world.stack.clock.now().getTime() / 1000) + 600);

    await takeEvents([warningOf(victim)], ['warning'], deps, deployment());

    expect(serving(world.fleet.targetGroupArn, victim)).toBe(false);
    expect(serving(pods.arn, victimIp)).toBe(false);
    expect(serving(world.fleet.targetGroupArn, other)).toBe(true);
    expect(serving(left.arn, left.ips[0]!)).toBe(true);
    const workflow = await world.workflowOf(victim);
    // Where it served: what discovery found, and what the index said a sweep ago (a target drained
    // at delivery may be gone before discovery looks, with a deregistration delay of 0).
    expect(workflow!.targets!.map((t) => `${t.targetGroupArn} ${t.id}`).sort()).toEqual(
      [
        `${world.fleet.targetGroupArn} ${victim}`,
        `${pods.arn} ${victimIp}`,
        `${left.arn} ${victimIp}`,
      ].sort(),
    );
  });

  it('never drains an unmanaged instance, whatever its entry says', async () => {
    world = await fleetWorld();
    const launched = await world.ec2.send(
      new RunInstancesCommand({
        MinCount: 1,
        MaxCount: 1,
        LaunchTemplate: { LaunchTemplateId: world.fleet.launchTemplateId, Version: '$Latest' },
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'Name', Value: 'not-ours' }] }],
      }),
    );
    const stranger = launched.Instances![0]!.InstanceId!;
    await runUntil(
      world.stack,
      () => world.stack.cloud.ec2.instance(stranger)?.state === 'running',
      60_000,
      'the unmanaged instance to run',
    );
    await world.elbv2.send(
      new RegisterTargetsCommand({
        TargetGroupArn: world.fleet.targetGroupArn,
        Targets: [{ Id: stranger, Port: 80 }],
      }),
    );
    const { deps, trips, clients } = trackedDeps();
    const index = new DynamoRegistrationIndex({
      client: clients.documentClient,
      tableName: world.stack.config.tableName,
    });
    const forged: Target = {
      targetGroupArn: world.fleet.targetGroupArn,
      targetType: 'instance',
      id: stranger,
      port: 80,
    };
    await index.write(new Map([[stranger, [forged]]]), Math.floor(Date.now() / 1000) + 3600);
    trips.reset();

    const result = await takeEvents([warningOf(stranger)], ['warning'], deps, deployment());

    expect(result.outcomes).toMatchObject([{ instanceId: stranger, result: 'unmanaged' }]);
    expect(trips.of('DeregisterTargets')).toEqual([]);
    expect(serving(world.fleet.targetGroupArn, stranger)).toBe(true);
  });
});

describe('a batch of warnings (EC2 reclaiming a pool)', () => {
  it('deregisters them all in round trip 2, one DeregisterTargets per target group', async () => {
    world = await fleetWorld({ size: 8 });
    const victims = world.fleet.instanceIds.slice(0, 6);
    const spared = world.fleet.instanceIds.slice(6);
    const pods = await ipTargetGroup(world.fleet.instanceIds);
    const { deps, trips } = trackedDeps();
    await keepRegistrationIndex(deps);
    trips.reset();
    // Launching the fleet of 8 emptied the RunInstances bucket (5, refilled 2 a second): the 6
    // replacements start from a full one, as after a quiet minute.
    world.stack.cloud.refillBuckets();

    await takeEvents(victims.map(warningOf), ['warning'], deps, deployment());

    expect(trips.of('DeregisterTargets')).toEqual([2, 2]);
    for (const victim of victims) expect(serving(world.fleet.targetGroupArn, victim)).toBe(false);
    for (const ip of pods.ips.slice(0, 6)) expect(serving(pods.arn, ip)).toBe(false);
    for (const id of spared) expect(serving(world.fleet.targetGroupArn, id)).toBe(true);
    for (const ip of pods.ips.slice(6)) expect(serving(pods.arn, ip)).toBe(true);
    for (const victim of victims) {
      expect(await world.workflowOf(victim)).toMatchObject({ drained: true });
    }
  });
});
