import {
  CreateLaunchTemplateCommand,
  DescribeLaunchTemplatesCommand,
  DescribeSubnetsCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { afterEach, describe, expect, it } from 'vitest';
import { instanceTypeInfo } from '../../localcloud/ec2/instance-types.ts';
import { LocalCloud } from '../../localcloud/index.ts';
import { giveState } from '../../localcloud/scenarios/stateful.ts';
import { createClients } from '../../src/aws/clients.ts';
import { awsHandoffDeps } from '../../src/aws/handoff-deps.ts';
import { createWorkflowTable } from '../../src/aws/workflow-store.ts';
import { readConfig } from '../../src/config.ts';
import type { Signal } from '../../src/core/events.ts';
import { handOff } from '../../src/core/handoff.ts';
import { type GroupPolicyInput, parsePolicy } from '../../src/core/policy.ts';
import type { HandoffDeps, Log, Metrics } from '../../src/core/ports.ts';
import { sweepOpenWorkflows } from '../../src/core/sweep.ts';
import { type Workflow, workflowIdFor } from '../../src/core/workflow.ts';
import { type FleetWorld, fleetWorld } from '../support/local.ts';

/**
 * Where replacements go, through the local cloud's capacity pools, prices, Reserved Instances
 * and CreateFleet: a pool (m5.large in the first AZ) is reclaimed, and its instances' warnings
 * come in one batch. Assertions are on what exists afterwards: instances, their pools, records.
 */

const GROUP = 'spot-handoff:group';
const quiet: Log = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {}, with: () => quiet };
const metrics: Metrics = { count: () => {}, seconds: () => {} };

interface World {
  cloud: LocalCloud;
  deps: HandoffDeps;
  zones: string[];
  ids: string[];
  signals: Signal[];
  records(): Promise<Workflow[]>;
  replacements(): ReturnType<LocalCloud['ec2']['instances']>;
}

let world: World | undefined;
afterEach(async () => {
  await world?.cloud.stop();
  world = undefined;
});

async function reclaim(
  n: number,
  group: GroupPolicyInput | undefined,
  tags: Record<string, string> = {},
): Promise<World> {
  const cloud = await LocalCloud.start({ throttling: false });
  const clients = createClients({
    region: cloud.region,
    endpoints: { ec2: cloud.endpoint, elbv2: cloud.endpoint, dynamodb: cloud.dynamoEndpoint! },
    credentials: cloud.clientConfig().credentials,
    env: {},
  });
  await createWorkflowTable(clients.dynamodb, 'capacity');
  const ec2 = new EC2Client(cloud.clientConfig());
  const subnets = ((await ec2.send(new DescribeSubnetsCommand({}))).Subnets ?? []).sort((a, b) =>
    a.AvailabilityZone!.localeCompare(b.AvailabilityZone!),
  );
  const template = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: 'web',
      LaunchTemplateData: {
        ImageId: 'ami-0123456789abcdef0',
        InstanceType: 'm5.large',
        InstanceMarketOptions: { MarketType: 'spot' },
      },
    }),
  );
  const launched = await ec2.send(
    new RunInstancesCommand({
      MinCount: n,
      MaxCount: n,
      SubnetId: subnets[0]!.SubnetId!,
      LaunchTemplate: { LaunchTemplateId: template.LaunchTemplate!.LaunchTemplateId!, Version: '$Latest' },
      TagSpecifications: [
        {
          ResourceType: 'instance',
          Tags: [
            { Key: 'spot-handoff:managed', Value: 'true' },
            ...(group ? [{ Key: GROUP, Value: 'web' }] : []),
            ...Object.entries(tags).map(([Key, Value]) => ({ Key, Value })),
          ],
        },
      ],
    }),
  );
  ec2.destroy();
  await cloud.clock.advance(10_000);
  const config = {
    ...readConfig({ HANDOFF_TABLE_NAME: 'capacity' }),
    policy: parsePolicy({ groups: group ? { web: group } : {} }),
  };
  const deps = awsHandoffDeps({
    config,
    clients,
    log: quiet,
    metrics,
    clock: { now: () => cloud.clock.now(), sleep: async () => {} },
  });
  const ids = launched.Instances!.map((i) => i.InstanceId!);
  const time = cloud.clock.now().toISOString();
  const zones = subnets.map((s) => s.AvailabilityZone!);
  const store = deps.store;
  return {
    cloud,
    deps,
    zones,
    ids,
    signals: ids.map((instanceId, i) => ({
      kind: 'warning',
      instanceId,
      eventId: `warning-${i}`,
      time,
      instanceAction: 'terminate',
    })),
    records: async () => (await Promise.all(ids.map((id) => store.get(workflowIdFor(id))))).map((w) => w!),
    replacements: () => cloud.ec2.instances().filter((i) => i.tags['spot-handoff:replaces'] !== undefined),
  };
}

/** The pool memory's interruptions of the last `minutes`. */
const remembered = (w: World, minutes: number) =>
  w.deps.poolMemory!.interruptionsSince(
    new Date(w.cloud.clock.now().getTime() - minutes * 60_000),
    w.cloud.clock.now(),
  );

/** The deps of an invocation that dies once where a launched replacement is first linked to its workflow. */
function dyingOnceAtLink(deps: HandoffDeps): HandoffDeps {
  const store = deps.store;
  let crashes = 1;
  return {
    ...deps,
    store: {
      ...store,
      get: (id) => store.get(id),
      create: (w) => store.create(w),
      update: (w) => store.update(w),
      list: (o) => store.list(o),
      workflowOfReplacement: (id) => store.workflowOfReplacement(id),
      recordOrphan: (o) => store.recordOrphan(o),
      orphans: () => store.orphans(),
      async linkReplacement(replacementId, workflowId, expiresAt) {
        if (crashes > 0) {
          crashes -= 1;
          throw new Error('Lambda timed out');
        }
        return store.linkReplacement(replacementId, workflowId, expiresAt);
      },
    },
  };
}

const TYPES = [{ type: 'm5.large' }, { type: 'm5.xlarge' }, { type: 'c5.large' }];
const PRICES = { 'm5.large': 0.096, 'm5.xlarge': 0.192, 'c5.large': 0.085 };

describe('the replacements of a reclaimed pool', () => {
  it('use an unused Reserved Instance first, then Spot pools other than the one reclaimed', async () => {
    world = await reclaim(3, { instanceTypes: TYPES, onDemandPrices: PRICES });
    const [a, b] = world.zones;
    const riId = world.cloud.addReservedInstances({
      instanceType: 'm5.xlarge',
      availabilityZone: b,
      instanceCount: 1,
    });
    // EC2 would pick the reclaimed pool first: it is the cheapest.
    world.cloud.setSpotPrice({ instanceType: 'm5.large', availabilityZone: a }, 0.001);

    await handOff(world.signals, world.deps);

    const replacements = world.replacements();
    expect(replacements).toHaveLength(3);
    expect(replacements.filter((r) => r.instanceType === 'm5.large' && r.availabilityZone === a)).toEqual([]);
    const records = await world.records();
    const reserved = records.filter((w) => w.replacement?.capacityType === 'reserved');
    expect(reserved).toHaveLength(1);
    expect(reserved[0]!.replacement).toMatchObject({
      pool: { instanceType: 'm5.xlarge', availabilityZone: b },
      choiceReason: `unused RI ${riId} covers m5.xlarge in ${b}`,
      hourlyPrice: 0,
      onDemandPrice: 0.192,
    });
    const spot = records.filter((w) => w.replacement?.capacityType === 'spot');
    expect(spot).toHaveLength(2);
    for (const w of spot) {
      expect(w.replacement!.choiceReason).toMatch(
        /^Spot \S+ in \S+: placement score \d+, 0 recent interruptions/,
      );
      expect(w.group).toBe('web');
    }
    for (const w of records) {
      const instance = replacements.find((r) => r.instanceId === w.replacement!.instanceId)!;
      expect(w.replacement!.pool).toEqual({
        instanceType: instance.instanceType,
        availabilityZone: instance.availabilityZone,
        subnetId: instance.subnetId,
      });
    }
  });

  it('of 20 instances of one group launch in at most 3 fleet requests and no RunInstances', async () => {
    world = await reclaim(20, { instanceTypes: TYPES });
    const fleetsBefore = world.cloud.calls('CreateFleet');
    const runsBefore = world.cloud.calls('RunInstances');

    await handOff(world.signals, world.deps);

    expect(world.cloud.calls('CreateFleet') - fleetsBefore).toBeLessThanOrEqual(3);
    expect(world.cloud.calls('RunInstances') - runsBefore).toBe(0);
    const replacements = world.replacements();
    expect(replacements).toHaveLength(20);
    expect(new Set(replacements.map((r) => r.tags['spot-handoff:replaces']))).toEqual(new Set(world.ids));
    expect(
      replacements.some((r) => r.instanceType === 'm5.large' && r.availabilityZone === world!.zones[0]),
    ).toBe(false);
    const records = await world.records();
    expect(records.every((w) => w.replacement?.capacityType === 'spot' && w.replacement.fleet)).toBe(true);
  });

  it('fall back to On-Demand only when every allowed Spot pool has no capacity', async () => {
    world = await reclaim(4, { instanceTypes: TYPES, onDemandPrices: PRICES });
    world.cloud.setCapacity({ market: 'spot' }, 0);

    await handOff(world.signals, world.deps);

    const replacements = world.replacements();
    expect(replacements).toHaveLength(4);
    expect(replacements.every((r) => r.lifecycle !== 'spot')).toBe(true);
    const records = await world.records();
    for (const w of records) {
      expect(w.replacement).toMatchObject({ capacityType: 'on-demand' });
      // Eight allowed Spot pools (3 types × 3 AZs, less the reclaimed one), each failed.
      expect(w.replacement!.choiceReason).toMatch(/^8 Spot pools had no capacity; On-Demand fallback/);
      expect(w.replacement!.hourlyPrice).toBe(w.replacement!.onDemandPrice);
    }
  });

  it('stay off a pool the pool memory avoids, even when it is the cheapest', async () => {
    world = await reclaim(2, { instanceTypes: TYPES, poolReclaim: { threshold: 3, windowMinutes: 10 } });
    const [, b] = world.zones;
    world.cloud.setSpotPrice({ instanceType: 'c5.large', availabilityZone: b }, 0.001);
    // Another batch reclaimed c5.large in b three times a minute ago.
    const pool = { instanceType: 'c5.large', availabilityZone: b! };
    await world.deps.poolMemory!.recordInterruptions(
      [pool, pool, pool],
      new Date(world.cloud.clock.now().getTime() - 60_000),
    );

    await handOff(world.signals, world.deps);

    const replacements = world.replacements();
    expect(replacements).toHaveLength(2);
    expect(replacements.filter((r) => r.instanceType === 'c5.large' && r.availabilityZone === b)).toEqual([]);
    // This batch's interruptions are remembered too.
    const recent = await remembered(world, 10);
    expect(recent.get(`m5.large|${world.zones[0]}`)).toHaveLength(2);
    expect(recent.get(`c5.large|${b}`)).toHaveLength(3);
    const [record] = await world.records();
    expect(record!.replacement!.avoidedPools).toEqual([
      {
        instanceType: 'c5.large',
        availabilityZone: b,
        until: new Date(world.cloud.clock.now().getTime() - 60_000 + 30 * 60_000).toISOString(),
      },
    ]);
  });

  it.each([
    ['still avoided 15 min after the cluster, its interruptions out of the 10-min window', 15, false],
    ['chosen again once the 30 avoided minutes are over', 31, true],
  ])('stay off a pool after a cluster: %s', async (_, minutesAgo, chosen) => {
    world = await reclaim(2, {
      instanceTypes: TYPES,
      poolReclaim: { threshold: 3, windowMinutes: 10, avoidMinutes: 30 },
    });
    const [, b] = world.zones;
    world.cloud.setSpotPrice({ instanceType: 'c5.large', availabilityZone: b }, 0.001);
    const pool = { instanceType: 'c5.large', availabilityZone: b! };
    const clusterAt = world.cloud.clock.now().getTime() - minutesAgo * 60_000;
    await world.deps.poolMemory!.recordInterruptions([pool], new Date(clusterAt - 120_000));
    await world.deps.poolMemory!.recordInterruptions([pool, pool], new Date(clusterAt));

    await handOff(world.signals, world.deps);

    const inPool = world
      .replacements()
      .filter((r) => r.instanceType === 'c5.large' && r.availabilityZone === b);
    expect(inPool.length > 0).toBe(chosen);
    const [record] = await world.records();
    expect(record!.replacement!.avoidedPools).toEqual(
      chosen ? undefined : [{ ...pool, until: new Date(clusterAt + 30 * 60_000).toISOString() }],
    );
  });

  it("count an ungrouped instance's interruption too, once: a later grouped replacement stays off its pool", async () => {
    world = await reclaim(2, { instanceTypes: TYPES, poolReclaim: { threshold: 1, windowMinutes: 10 } });
    const [, b] = world.zones;
    world.cloud.setSpotPrice({ instanceType: 'c5.large', availabilityZone: b }, 0.001);
    const ec2 = new EC2Client(world.cloud.clientConfig());
    const subnetB = (await ec2.send(new DescribeSubnetsCommand({}))).Subnets!.find(
      (s) => s.AvailabilityZone === b,
    )!.SubnetId!;
    const template = (await ec2.send(new DescribeLaunchTemplatesCommand({}))).LaunchTemplates![0]!;
    const ungrouped = (
      await ec2.send(
        new RunInstancesCommand({
          MinCount: 1,
          MaxCount: 1,
          SubnetId: subnetB,
          InstanceType: 'c5.large',
          LaunchTemplate: { LaunchTemplateId: template.LaunchTemplateId!, Version: '$Latest' },
          TagSpecifications: [
            { ResourceType: 'instance', Tags: [{ Key: 'spot-handoff:managed', Value: 'true' }] },
          ],
        }),
      )
    ).Instances![0]!.InstanceId!;
    ec2.destroy();
    await world.cloud.clock.advance(10_000);
    const warning: Signal = {
      kind: 'warning',
      instanceId: ungrouped,
      eventId: 'warning-ungrouped',
      time: world.cloud.clock.now().toISOString(),
      instanceAction: 'terminate',
    };

    await handOff([warning], world.deps);
    await handOff([{ ...warning, eventId: 'warning-ungrouped-again' }], world.deps);

    expect((await remembered(world, 10)).get(`c5.large|${b}`)).toHaveLength(1);
    const own = await world.deps.store.get(workflowIdFor(ungrouped));
    expect(own!.group).toBeUndefined();
    expect(own!.signals.poolCountedAt).toBeDefined();

    await handOff(world.signals, world.deps);

    const groupReplacements = world
      .replacements()
      .filter((r) => world!.ids.includes(r.tags['spot-handoff:replaces']!));
    expect(groupReplacements).toHaveLength(2);
    expect(
      groupReplacements.filter((r) => r.instanceType === 'c5.large' && r.availabilityZone === b),
    ).toEqual([]);
  });

  it('are launched once when the invocation dies between CreateFleet and the record', async () => {
    world = await reclaim(5, { instanceTypes: TYPES });
    const store = world.deps.store;
    const crashing = dyingOnceAtLink(world.deps);

    await expect(handOff(world.signals, crashing)).rejects.toThrow();
    await handOff(world.signals, world.deps);
    await handOff(world.signals, world.deps);

    const replacements = world.replacements();
    expect(replacements).toHaveLength(5);
    const fleetInstances = world.cloud.ec2
      .instances()
      .filter((i) => i.tags['spot-handoff:fleet-token'] !== undefined);
    expect(fleetInstances).toHaveLength(5);
    const records = await world.records();
    expect(new Set(records.map((w) => w.replacement?.instanceId))).toEqual(
      new Set(replacements.map((r) => r.instanceId)),
    );
    for (const r of replacements)
      expect(await store.workflowOfReplacement(r.instanceId)).toBe(`wf-${r.tags['spot-handoff:replaces']}`);
  });
});

describe('the replacements of a group given by attribute requirements', () => {
  it('land on the types EC2 matches, never an excluded family, never the reclaimed pool', async () => {
    const requirements = {
      vCpu: { min: 2, max: 4 },
      memoryMiB: { min: 8192, max: 16_384 },
      architecture: 'x86_64' as const,
      excludedFamilies: ['m6i', 'c6*'],
    };
    world = await reclaim(6, { instanceRequirements: requirements });
    const [a, b] = world.zones;
    // The cheapest pools are the reclaimed one and one of an excluded family; each pool holds one more
    // Spot instance, so the six go to six pools, of more than one family.
    world.cloud.setCapacity({ market: 'spot' }, 1);
    world.cloud.setSpotPrice({ instanceType: 'm5.large', availabilityZone: a }, 0.001);
    world.cloud.setSpotPrice({ instanceType: 'c6i.xlarge', availabilityZone: b }, 0.001);

    await handOff(world.signals, world.deps);

    const replacements = world.replacements();
    expect(replacements).toHaveLength(6);
    for (const r of replacements) {
      const info = instanceTypeInfo(r.instanceType);
      expect(info.vcpus).toBeGreaterThanOrEqual(2);
      expect(info.vcpus).toBeLessThanOrEqual(4);
      expect(info.memoryMiB).toBeGreaterThanOrEqual(8192);
      expect(info.memoryMiB).toBeLessThanOrEqual(16_384);
      expect(info.architecture).toBe('x86_64');
      expect(info.burstable).toBe(false);
      expect(info.family).not.toBe('m6i');
      expect(info.family).not.toMatch(/^c6/);
      expect(`${r.instanceType}|${r.availabilityZone}`).not.toBe(`m5.large|${a}`);
    }
    expect(new Set(replacements.map((r) => instanceTypeInfo(r.instanceType).family)).size).toBeGreaterThan(1);
    const records = await world.records();
    for (const w of records) {
      expect(w.group).toBe('web');
      expect(w.replacement).toMatchObject({ capacityType: 'spot' });
      expect(w.replacement!.choiceReason).toMatch(/^Spot \S+ in \S+: /);
    }
    // One batch, one expansion of the requirements.
    expect(world.cloud.calls('GetInstanceTypesFromInstanceRequirements')).toBe(1);
  });
});

describe('a kept-IP replacement from the group’s pools', () => {
  it('is launched once when the invocation dies between RunInstances and the record', async () => {
    world = await reclaim(
      1,
      { instanceTypes: TYPES },
      {
        'spot-handoff:stateful': 'true',
        'spot-handoff:primary-ip': 'keep',
      },
    );
    const [victim] = world.ids;
    const old = world.cloud.ec2.instances().find((i) => i.instanceId === victim)!;
    await handOff(world.signals, world.deps, { failOnLaunchError: false });
    // EC2 reclaims the instance: its primary IP is free for the replacement.
    const ec2 = new EC2Client(world.cloud.clientConfig());
    await ec2.send(new TerminateInstancesCommand({ InstanceIds: [victim!] }));
    ec2.destroy();
    await world.cloud.clock.advance(120_000);
    const terminated: Signal[] = [
      {
        kind: 'state-change',
        instanceId: victim!,
        eventId: 'terminated-0',
        time: world.cloud.clock.now().toISOString(),
        state: 'terminated',
      },
    ];
    const crashing = dyingOnceAtLink(world.deps);

    await expect(handOff(terminated, crashing)).rejects.toThrow('Lambda timed out');
    const afterCrash = (await world.records())[0]!;
    await handOff(terminated, world.deps);

    const replacements = world.replacements();
    expect(replacements).toHaveLength(1);
    expect(replacements[0]).toMatchObject({ subnetId: old.subnetId, privateIpAddress: old.privateIpAddress });
    expect(replacements[0]!.instanceType).not.toBe('m5.large');
    // The launch was on the record before RunInstances went out; the retry sent it again, with its token.
    expect(afterCrash.replacement!.launching).toMatchObject({ pool: { subnetId: old.subnetId } });
    const [record] = await world.records();
    expect(record!.replacement).toMatchObject({
      instanceId: replacements[0]!.instanceId,
      clientToken: afterCrash.replacement!.launching!.clientToken,
      pool: { instanceType: replacements[0]!.instanceType, subnetId: old.subnetId },
    });
    expect(record!.replacement!.launching).toBeUndefined();
    expect(record!.replacement!.choiceReason).toContain(
      `its kept primary IP ${old.privateIpAddress} binds it to`,
    );
  });
});

describe('the sweep', () => {
  it('adopts an orphan of a fleet for a workflow of its group still waiting, and terminates the rest', async () => {
    world = await reclaim(1, { instanceTypes: TYPES, onDemandFallback: false });
    world.cloud.setCapacity({ market: 'spot' }, 0);
    await handOff(world.signals, world.deps, { failOnLaunchError: false });
    const [waiting] = await world.records();
    expect(waiting!.replacement?.instanceId).toBeUndefined();
    expect(waiting!.replacement?.lastError?.message).toMatch(
      /^1 of 1 replacements of group web not launched: \d+ Spot pools had no capacity and the policy has no On-Demand fallback/,
    );
    // Two instances a fleet launched and no record ever named (their invocation died).
    world.cloud.setCapacity({ market: 'spot' }, true);
    const template = world.cloud.ec2.instances()[0]!.launchTemplate!;
    const subnet = world.cloud.ec2.instances()[0]!;
    const orphans = await world.deps.compute.launchFleet({
      clientToken: 'lost-fleet',
      launchTemplate: template,
      overrides: [
        { instanceType: 'c5.large', subnetId: subnet.subnetId!, availabilityZone: subnet.availabilityZone },
      ],
      total: 2,
      onDemand: 0,
      spotStrategy: 'price-capacity-optimized',
      onDemandStrategy: 'prioritized',
      tags: { 'spot-handoff:managed': 'true', [GROUP]: 'web', 'spot-handoff:fleet-token': 'fleet-lost' },
    });
    expect(orphans.instances).toHaveLength(2);
    await world.cloud.clock.advance(6 * 60_000);

    await sweepOpenWorkflows(world.deps);

    const records = await world.deps.store.orphans();
    expect(records.map((o) => o.action).sort()).toEqual(['adopted', 'terminated']);
    const adopted = records.find((o) => o.action === 'adopted')!;
    const terminated = records.find((o) => o.action === 'terminated')!;
    expect(adopted).toMatchObject({
      workflowId: waiting!.workflowId,
      group: 'web',
      fleetToken: 'fleet-lost',
    });
    expect(terminated.reason).toMatch(/no open workflow of group web was waiting/);
    const [after] = await world.records();
    expect(after!.replacement).toMatchObject({ instanceId: adopted.instanceId, capacityType: 'spot' });
    expect(world.replacements().map((r) => r.instanceId)).toEqual([adopted.instanceId]);
    const gone = world.cloud.ec2.instances().find((i) => i.instanceId === terminated.instanceId)!;
    expect(['shutting-down', 'terminated']).toContain(gone.state);
    expect(await world.deps.store.workflowOfReplacement(adopted.instanceId)).toBe(waiting!.workflowId);
  });
});

describe('the replacement of an instance with no group', () => {
  it('keeps its own type and subnet, On-Demand when Spot has no capacity there', async () => {
    world = await reclaim(1, undefined);
    const [a] = world.zones;
    world.cloud.setCapacity({ instanceType: 'm5.large', availabilityZone: a, market: 'spot' }, 0);
    const old = world.cloud.ec2.instances().find((i) => i.instanceId === world!.ids[0])!;

    await handOff(world.signals, world.deps);

    const [replacement] = world.replacements();
    expect(world.replacements()).toHaveLength(1);
    expect(replacement).toMatchObject({ instanceType: 'm5.large', subnetId: old.subnetId });
    expect(replacement!.lifecycle).not.toBe('spot');
    const [record] = await world.records();
    expect(record!.group).toBeUndefined();
    expect(record!.replacement).toMatchObject({
      instanceId: replacement!.instanceId,
      capacityType: 'on-demand',
      pool: { instanceType: 'm5.large', availabilityZone: a, subnetId: old.subnetId },
    });
    expect(record!.replacement!.choiceReason).toMatch(
      /^Spot m5\.large in \S+ had no capacity \(\w+\); On-Demand fallback of its own type$/,
    );
  });
});

describe('a stateful instance of a group', () => {
  let stack: FleetWorld | undefined;
  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it('gets a replacement of another type in its volumes’ AZ, which receives its volume and interface', async () => {
    const policy = parsePolicy({
      groups: { web: { instanceTypes: [{ type: 'm5.large' }, { type: 'c5.large' }] } },
    });
    stack = await fleetWorld({ tags: { 'spot-handoff:stateful': 'true', [GROUP]: 'web' } }, { policy });
    const victim = stack.fleet.instanceIds[0]!;
    const state = await giveState(stack.ec2, victim, stack.until);
    await stack.pass(5_000);

    stack.stack.cloud.interrupt(victim);
    await stack.until(
      async () => (await stack!.workflowOf(victim))?.status === 'completed',
      'the stateful handoff',
      10 * 60_000,
    );

    const [replacement] = stack.replacementsOf(victim);
    expect(replacement).toMatchObject({
      state: 'running',
      instanceType: 'c5.large',
      availabilityZone: state.availabilityZone,
    });
    // The tags its group's instances share go on at launch: it is stateful and managed in turn.
    expect(replacement!.tags).toMatchObject({
      'spot-handoff:stateful': 'true',
      'spot-handoff:managed': 'true',
      [GROUP]: 'web',
      app: 'web',
    });
    const ec2 = stack.stack.cloud.ec2;
    expect(ec2.volumes().find((v) => v.volumeId === state.volumeId)?.attachment).toMatchObject({
      instanceId: replacement!.instanceId,
      state: 'attached',
    });
    expect(
      ec2.interfaces().find((e) => e.networkInterfaceId === state.networkInterfaceId)?.attachment,
    ).toMatchObject({
      instanceId: replacement!.instanceId,
    });
    const workflow = (await stack.workflowOf(victim))!;
    expect(workflow.replacement).toMatchObject({
      capacityType: 'spot',
      pool: { instanceType: 'c5.large', availabilityZone: state.availabilityZone },
    });
    expect(workflow.handover!.resources.every((r) => r.status === 'attached')).toBe(true);
  });

  it('that keeps its primary IP gets another allowed type in its own subnet when its pools there have no capacity', async () => {
    const policy = parsePolicy({
      groups: { web: { instanceTypes: [{ type: 'm5.large' }, { type: 'c5.large' }, { type: 'm6i.large' }] } },
    });
    stack = await fleetWorld(
      { tags: { 'spot-handoff:stateful': 'true', 'spot-handoff:primary-ip': 'keep', [GROUP]: 'web' } },
      { policy },
    );
    const victim = stack.fleet.instanceIds[0]!;
    const old = stack.stack.cloud.ec2.instance(victim)!;
    const state = await giveState(stack.ec2, victim, stack.until);
    const cloud = stack.stack.cloud;
    // Its own type has no Spot capacity in its AZ, nor has the cheapest other pool there.
    cloud.setCapacity(
      { instanceType: 'm5.large', availabilityZone: old.availabilityZone, market: 'spot' },
      0,
    );
    cloud.setCapacity(
      { instanceType: 'c5.large', availabilityZone: old.availabilityZone, market: 'spot' },
      0,
    );
    cloud.setSpotPrice({ instanceType: 'c5.large', availabilityZone: old.availabilityZone }, 0.001);
    await stack.pass(5_000);

    cloud.interrupt(victim);
    await stack.until(
      async () => (await stack!.workflowOf(victim))?.status === 'completed',
      'the kept-IP handoff',
      10 * 60_000,
    );

    const replacements = stack.replacementsOf(victim);
    expect(replacements).toHaveLength(1);
    const [replacement] = replacements;
    expect(replacement).toMatchObject({
      state: 'running',
      instanceType: 'm6i.large',
      subnetId: old.subnetId,
      privateIpAddress: old.privateIpAddress,
      lifecycle: 'spot',
    });
    expect(cloud.ec2.volumes().find((v) => v.volumeId === state.volumeId)?.attachment).toMatchObject({
      instanceId: replacement!.instanceId,
      state: 'attached',
    });
    const workflow = (await stack.workflowOf(victim))!;
    expect(workflow.group).toBe('web');
    expect(workflow.replacement).toMatchObject({
      instanceId: replacement!.instanceId,
      capacityType: 'spot',
      pool: { instanceType: 'm6i.large', availabilityZone: old.availabilityZone, subnetId: old.subnetId },
    });
    expect(workflow.replacement!.launching).toBeUndefined();
    expect(workflow.replacement!.choiceReason).toMatch(
      new RegExp(
        `^Spot m6i\\.large in ${old.availabilityZone}: .*after 1 Spot pools had no capacity; its kept primary IP ${old.privateIpAddress!.replace(/\./g, '\\.')} binds it to ${old.subnetId}`,
      ),
    );
    expect(workflow.handover!.resources.every((r) => r.status === 'attached')).toBe(true);
  });
});
