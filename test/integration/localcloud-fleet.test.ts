import {
  type _InstanceType,
  CreateFleetCommand,
  type CreateFleetCommandInput,
  CreateLaunchTemplateCommand,
  DescribeFleetsCommand,
  DescribeInstancesCommand,
  DescribeReservedInstancesCommand,
  DescribeSpotPriceHistoryCommand,
  DescribeSubnetsCommand,
  EC2Client,
  type FleetLaunchTemplateOverridesRequest,
  GetInstanceTypesFromInstanceRequirementsCommand,
  type GetInstanceTypesFromInstanceRequirementsCommandInput,
  GetSpotPlacementScoresCommand,
  type Instance,
  RunInstancesCommand,
  type Subnet,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ec2Charges } from '../../localcloud/ec2/limits.ts';
import { LocalCloud } from '../../localcloud/index.ts';
import { EC2_MUTATING } from '../../src/aws/aws-buckets.ts';
import { failureOf } from '../support/failure.ts';

const IMAGE_ID = 'ami-0123456789abcdef0';

let cloud: LocalCloud;
let ec2: EC2Client;
/** The default subnets in us-east-1a, b and c. */
let subnets: Subnet[];
let zones: string[];
let templateId: string;

async function startCloud() {
  cloud = await LocalCloud.start({ dynamodb: false, throttling: false });
  ec2 = new EC2Client({ ...cloud.clientConfig(), maxAttempts: 1 });
  subnets = (await ec2.send(new DescribeSubnetsCommand({}))).Subnets ?? [];
  subnets.sort((a, b) => (a.AvailabilityZone! < b.AvailabilityZone! ? -1 : 1));
  zones = subnets.map((s) => s.AvailabilityZone!);
  const template = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: 'web',
      LaunchTemplateData: {
        ImageId: IMAGE_ID,
        InstanceType: 'm5.large',
        TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'app', Value: 'web' }] }],
      },
    }),
  );
  templateId = template.LaunchTemplate!.LaunchTemplateId!;
}

/** An override in the default subnet of AZ `zone` (0, 1, 2). */
const pool = (
  instanceType: string,
  zone: number,
  more: FleetLaunchTemplateOverridesRequest = {},
): FleetLaunchTemplateOverridesRequest => ({
  InstanceType: instanceType as _InstanceType,
  SubnetId: subnets[zone]!.SubnetId!,
  ...more,
});

function fleet(
  overrides: FleetLaunchTemplateOverridesRequest[],
  input: Partial<CreateFleetCommandInput> = {},
): CreateFleetCommand {
  return new CreateFleetCommand({
    Type: 'instant',
    LaunchTemplateConfigs: [
      {
        LaunchTemplateSpecification: { LaunchTemplateId: templateId, Version: '$Latest' },
        Overrides: overrides,
      },
    ],
    TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: 'spot' },
    ...input,
  });
}

async function instancesOfFleet(fleetId: string): Promise<Instance[]> {
  const out = await ec2.send(
    new DescribeInstancesCommand({ Filters: [{ Name: 'tag:aws:ec2:fleet-id', Values: [fleetId] }] }),
  );
  return (out.Reservations ?? []).flatMap((r) => r.Instances ?? []);
}

/** `type@zone` of every instance, sorted. */
const poolsOf = (instances: Instance[]) =>
  instances.map((i) => `${i.InstanceType}@${i.Placement!.AvailabilityZone}`).sort();

describe('local EC2 capacity, prices and fleets through the real EC2Client', () => {
  beforeEach(() => startCloud());
  afterEach(async () => {
    ec2?.destroy();
    await cloud?.stop();
  });

  describe('CreateFleet instant', () => {
    it('fills the target across pools and names every override that fell short', async () => {
      // Prepare: the cheapest pool is empty, the next has room for 2, the dearest has plenty.
      cloud.setSpotPrice({ instanceType: 'm5.large', availabilityZone: zones[0] }, 0.01);
      cloud.setSpotPrice({ instanceType: 'c5.large', availabilityZone: zones[1] }, 0.02);
      cloud.setSpotPrice({ instanceType: 'm6i.large', availabilityZone: zones[2] }, 0.05);
      cloud.setCapacity({ instanceType: 'm5.large', availabilityZone: zones[0], market: 'spot' }, false);
      cloud.setCapacity({ instanceType: 'c5.large', availabilityZone: zones[1], market: 'spot' }, 2);

      // Act
      const out = await ec2.send(
        fleet([pool('m5.large', 0), pool('c5.large', 1), pool('m6i.large', 2)], {
          TargetCapacitySpecification: { TotalTargetCapacity: 5, DefaultTargetCapacityType: 'spot' },
          SpotOptions: { AllocationStrategy: 'lowest-price' },
          TagSpecifications: [
            { ResourceType: 'instance', Tags: [{ Key: 'team', Value: 'payments' }] },
            { ResourceType: 'fleet', Tags: [{ Key: 'purpose', Value: 'replacements' }] },
          ],
        }),
      );

      // Assess: the response
      expect(out.FleetId).toMatch(/^fleet-[0-9a-f-]{36}$/);
      expect(
        out.Instances!.map((i) => ({
          type: i.InstanceType,
          lifecycle: i.Lifecycle,
          count: i.InstanceIds!.length,
          subnet: i.LaunchTemplateAndOverrides!.Overrides!.SubnetId,
        })),
      ).toEqual([
        { type: 'c5.large', lifecycle: 'spot', count: 2, subnet: subnets[1]!.SubnetId },
        { type: 'm6i.large', lifecycle: 'spot', count: 3, subnet: subnets[2]!.SubnetId },
      ]);
      expect(
        out.Errors!.map((e) => ({
          type: e.LaunchTemplateAndOverrides!.Overrides!.InstanceType,
          template: e.LaunchTemplateAndOverrides!.LaunchTemplateSpecification!.LaunchTemplateId,
          lifecycle: e.Lifecycle,
          code: e.ErrorCode,
          message: e.ErrorMessage,
        })),
      ).toEqual([
        {
          type: 'm5.large',
          template: templateId,
          lifecycle: 'spot',
          code: 'InsufficientInstanceCapacity',
          message: 'There is no Spot capacity available that matches your request.',
        },
        {
          type: 'c5.large',
          template: templateId,
          lifecycle: 'spot',
          code: 'InsufficientInstanceCapacity',
          message: 'There is no Spot capacity available that matches your request.',
        },
      ]);

      // Assess: what exists afterwards
      const instances = await instancesOfFleet(out.FleetId!);
      expect(poolsOf(instances)).toEqual([
        `c5.large@${zones[1]}`,
        `c5.large@${zones[1]}`,
        `m6i.large@${zones[2]}`,
        `m6i.large@${zones[2]}`,
        `m6i.large@${zones[2]}`,
      ]);
      for (const instance of instances) {
        expect(instance.InstanceLifecycle).toBe('spot');
        expect(instance.SpotInstanceRequestId).toMatch(/^sir-/);
        const tags = Object.fromEntries(instance.Tags!.map((t) => [t.Key, t.Value]));
        expect(tags).toMatchObject({
          app: 'web',
          team: 'payments',
          'aws:ec2:fleet-id': out.FleetId,
          'aws:ec2launchtemplate:id': templateId,
        });
      }
      expect(
        cloud.capacityOf({ instanceType: 'c5.large', availabilityZone: zones[1]!, market: 'spot' }),
      ).toBe(0);
      const described = await ec2.send(new DescribeFleetsCommand({ FleetIds: [out.FleetId!] }));
      expect(described.Fleets![0]).toMatchObject({
        FleetState: 'active',
        ActivityStatus: 'fulfilled',
        Type: 'instant',
        FulfilledCapacity: 5,
        Tags: [{ Key: 'purpose', Value: 'replacements' }],
      });
    });

    it('reads fulfilled with no instances at all when every pool is out, and retries nothing', async () => {
      // Prepare
      cloud.setCapacity({ market: 'spot' }, 0);

      // Act
      const out = await ec2.send(
        fleet([pool('m5.large', 0), pool('m5.large', 1)], {
          TargetCapacitySpecification: { TotalTargetCapacity: 2, DefaultTargetCapacityType: 'spot' },
          SpotOptions: { AllocationStrategy: 'price-capacity-optimized' },
        }),
      );

      // Assess
      expect(out.Instances ?? []).toEqual([]);
      expect(
        out.Errors!.map((e) => [e.LaunchTemplateAndOverrides!.Overrides!.SubnetId, e.ErrorCode]),
      ).toEqual([
        [subnets[0]!.SubnetId, 'InsufficientInstanceCapacity'],
        [subnets[1]!.SubnetId, 'InsufficientInstanceCapacity'],
      ]);
      const described = await ec2.send(new DescribeFleetsCommand({ FleetIds: [out.FleetId!] }));
      expect(described.Fleets![0]).toMatchObject({ ActivityStatus: 'fulfilled', FulfilledCapacity: 0 });
      expect(cloud.ec2.instances()).toEqual([]);
      expect(cloud.calls('CreateFleet')).toBe(1);
    });

    it('price-capacity-optimized: the cheapest of the pools with room for the whole launch', async () => {
      // Prepare: the cheapest pool has room for one only; of the two deep pools, zone c is cheaper.
      cloud.setSpotPrice({ instanceType: 'm5.large', availabilityZone: zones[0] }, 0.01);
      cloud.setCapacity({ instanceType: 'm5.large', availabilityZone: zones[0], market: 'spot' }, 1);
      cloud.setSpotPrice({ instanceType: 'm5.large', availabilityZone: zones[1] }, 0.04);
      cloud.setSpotPrice({ instanceType: 'm5.large', availabilityZone: zones[2] }, 0.03);

      // Act
      const out = await ec2.send(
        fleet([pool('m5.large', 0), pool('m5.large', 1), pool('m5.large', 2)], {
          TargetCapacitySpecification: { TotalTargetCapacity: 3, DefaultTargetCapacityType: 'spot' },
          SpotOptions: { AllocationStrategy: 'price-capacity-optimized' },
        }),
      );

      // Assess
      expect(out.Errors ?? []).toEqual([]);
      expect(poolsOf(await instancesOfFleet(out.FleetId!))).toEqual(Array(3).fill(`m5.large@${zones[2]}`));
    });

    it('capacity-optimized: the pool with the most room, whatever its price', async () => {
      // Prepare
      cloud.setCapacity({ instanceType: 'c5.large', market: 'spot' }, 10);
      cloud.setCapacity({ instanceType: 'c5.large', availabilityZone: zones[1], market: 'spot' }, 50);
      cloud.setSpotPrice({ instanceType: 'c5.large', availabilityZone: zones[1] }, 0.08);

      // Act
      const out = await ec2.send(
        fleet([pool('c5.large', 0), pool('c5.large', 1), pool('c5.large', 2)], {
          TargetCapacitySpecification: { TotalTargetCapacity: 4, DefaultTargetCapacityType: 'spot' },
          SpotOptions: { AllocationStrategy: 'capacity-optimized' },
        }),
      );

      // Assess
      expect(poolsOf(await instancesOfFleet(out.FleetId!))).toEqual(Array(4).fill(`c5.large@${zones[1]}`));
    });

    it('diversified: spreads the Spot target over every pool', async () => {
      // Act
      const out = await ec2.send(
        fleet([pool('m5.large', 0), pool('m5.large', 1), pool('m5.large', 2)], {
          TargetCapacitySpecification: { TotalTargetCapacity: 6, DefaultTargetCapacityType: 'spot' },
          SpotOptions: { AllocationStrategy: 'diversified' },
        }),
      );

      // Assess
      expect(poolsOf(await instancesOfFleet(out.FleetId!))).toEqual(
        zones.flatMap((zone) => [`m5.large@${zone}`, `m5.large@${zone}`]),
      );
    });

    it('selects instance types by InstanceRequirements and launches nothing below MinTargetCapacity', async () => {
      // Prepare
      const requirements = {
        VCpuCount: { Min: 4, Max: 4 },
        MemoryMiB: { Min: 16_384 },
        AllowedInstanceTypes: ['m5.*', 'm6i.*', 'r5.*'],
      };

      // Act
      const chosen = await ec2.send(
        fleet([{ SubnetId: subnets[0]!.SubnetId!, InstanceRequirements: requirements }], {
          TargetCapacitySpecification: { TotalTargetCapacity: 2, DefaultTargetCapacityType: 'spot' },
          SpotOptions: { AllocationStrategy: 'lowest-price' },
        }),
      );
      cloud.setCapacity({ market: 'spot' }, 1);
      const tooFew = await ec2.send(
        fleet([pool('c5.large', 0), pool('c5.large', 1)], {
          TargetCapacitySpecification: { TotalTargetCapacity: 2, DefaultTargetCapacityType: 'spot' },
          SpotOptions: { SingleAvailabilityZone: true, MinTargetCapacity: 2 },
        }),
      );

      // Assess
      const types = (await instancesOfFleet(chosen.FleetId!)).map((i) => i.InstanceType);
      expect(types).toHaveLength(2);
      for (const type of types) expect(['m5.xlarge', 'm6i.xlarge', 'r5.xlarge']).toContain(type);
      expect(tooFew.Instances ?? []).toEqual([]);
      expect(new Set(tooFew.Errors!.map((e) => e.ErrorCode))).toEqual(new Set(['UnfulfillableCapacity']));
      expect(await instancesOfFleet(tooFew.FleetId!)).toEqual([]);
    });

    it('launches On-Demand by Priority and Spot beside it, each with its lifecycle', async () => {
      // Act
      const out = await ec2.send(
        fleet(
          [
            pool('m5.large', 0, { Priority: 2 }),
            pool('r5.large', 1, { Priority: 0 }),
            pool('c5.large', 2, { Priority: 1 }),
          ],
          {
            TargetCapacitySpecification: {
              TotalTargetCapacity: 3,
              OnDemandTargetCapacity: 2,
              DefaultTargetCapacityType: 'spot',
            },
            OnDemandOptions: { AllocationStrategy: 'prioritized' },
            SpotOptions: { AllocationStrategy: 'lowest-price' },
          },
        ),
      );

      // Assess
      const instances = await instancesOfFleet(out.FleetId!);
      const onDemand = instances.filter((i) => i.InstanceLifecycle === undefined);
      const spot = instances.filter((i) => i.InstanceLifecycle === 'spot');
      expect(poolsOf(onDemand)).toEqual([`r5.large@${zones[1]}`, `r5.large@${zones[1]}`]);
      expect(spot).toHaveLength(1);
      expect(out.Instances!.map((i) => i.Lifecycle).sort()).toEqual(['on-demand', 'spot']);
      const described = await ec2.send(new DescribeFleetsCommand({ FleetIds: [out.FleetId!] }));
      expect(described.Fleets![0]).toMatchObject({ FulfilledCapacity: 3, FulfilledOnDemandCapacity: 2 });
    });

    it('counts weighted capacity and skips a pool whose Spot price is over MaxPrice', async () => {
      // Prepare: per unit, the xlarge (weight 2) is the cheaper pool, but dearer than its MaxPrice.
      cloud.setSpotPrice({ instanceType: 'm5.xlarge', availabilityZone: zones[0] }, 0.09);
      cloud.setSpotPrice({ instanceType: 'm5.large', availabilityZone: zones[1] }, 0.05);

      // Act
      const out = await ec2.send(
        fleet([pool('m5.xlarge', 0, { WeightedCapacity: 2, MaxPrice: '0.05' }), pool('m5.large', 1)], {
          TargetCapacitySpecification: { TotalTargetCapacity: 4, DefaultTargetCapacityType: 'spot' },
          SpotOptions: { AllocationStrategy: 'lowest-price' },
        }),
      );

      // Assess
      expect(out.Errors!.map((e) => e.ErrorCode)).toEqual(['SpotMaxPriceTooLow']);
      expect(poolsOf(await instancesOfFleet(out.FleetId!))).toEqual(Array(4).fill(`m5.large@${zones[1]}`));
    });

    it('answers a repeated ClientToken with the same fleet and refuses it with other parameters', async () => {
      // Prepare
      const request = () =>
        fleet([pool('m5.large', 0)], {
          ClientToken: 'workflow-42',
          TargetCapacitySpecification: { TotalTargetCapacity: 2, DefaultTargetCapacityType: 'spot' },
        });
      const first = await ec2.send(request());

      // Act
      const again = await ec2.send(request());
      const changed = await failureOf(
        ec2.send(
          fleet([pool('m5.large', 1)], {
            ClientToken: 'workflow-42',
            TargetCapacitySpecification: { TotalTargetCapacity: 2, DefaultTargetCapacityType: 'spot' },
          }),
        ),
      );

      // Assess
      expect(again.FleetId).toBe(first.FleetId);
      expect(again.Instances).toEqual(first.Instances);
      expect(changed).toMatchObject({ name: 'IdempotentParameterMismatch' });
      expect(cloud.ec2.instances()).toHaveLength(2);
    });

    it('fails a request EC2 would refuse, naming the field', async () => {
      // Act
      const noDefault = await failureOf(
        ec2.send(fleet([pool('m5.large', 0)], { TargetCapacitySpecification: { TotalTargetCapacity: 2 } })),
      );
      const volumeTags = await failureOf(
        ec2.send(
          fleet([pool('m5.large', 0)], {
            TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'a', Value: 'b' }] }],
          }),
        ),
      );

      // Assess
      expect(noDefault).toMatchObject({
        name: 'MissingParameter',
        message: expect.stringContaining('DefaultTargetCapacityType'),
      });
      expect(volumeTags).toMatchObject({
        name: 'InvalidParameterValue',
        message: expect.stringContaining('volume'),
      });
      expect(cloud.ec2.instances()).toEqual([]);
    });

    it('draws CreateFleet from the mutating bucket of 50', async () => {
      // Prepare
      // CreateFleet's bucket, with its refill (5 a second) paused: how fast this machine sends the
      // burst cannot matter.
      const [charge] = ec2Charges({
        action: 'CreateFleet',
        version: '2016-11-15',
        params: {},
        requestId: 'r',
      });
      expect(charge).toEqual({ key: 'CreateFleet', spec: EC2_MUTATING, cost: 1 });
      const throttled = await LocalCloud.start({
        dynamodb: false,
        throttling: { buckets: { CreateFleet: { ...EC2_MUTATING, refillPerSecond: 0 } } },
      });
      const client = new EC2Client({ ...throttled.clientConfig(), maxAttempts: 1 });
      try {
        // Act: 60 dry runs at once (a dry run is checked, throttled and answered without launching)
        const outcomes = await Promise.all(
          Array.from({ length: 60 }, () =>
            failureOf(
              client.send(
                new CreateFleetCommand({
                  DryRun: true,
                  Type: 'instant',
                  LaunchTemplateConfigs: [
                    { LaunchTemplateSpecification: { LaunchTemplateName: 'x', Version: '1' } },
                  ],
                  TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: 'spot' },
                }),
              ),
            ),
          ),
        );

        // Assess
        const names = outcomes.map((e) => (e as Error).name);
        expect(EC2_MUTATING.capacity).toBe(50);
        expect(names.filter((n) => n === 'DryRunOperation')).toHaveLength(50);
        expect(names.filter((n) => n === 'RequestLimitExceeded')).toHaveLength(10);
      } finally {
        client.destroy();
        await throttled.stop();
      }
    });
  });

  describe('capacity', () => {
    it('runs out, refuses Spot and On-Demand apart, and comes back when the scenario restores it', async () => {
      // Prepare
      cloud.setCapacity({ market: 'spot' }, 0);
      const spotFleet = () =>
        fleet([pool('m5.large', 0), pool('c5.large', 1)], {
          TargetCapacitySpecification: { TotalTargetCapacity: 2, DefaultTargetCapacityType: 'spot' },
        });

      // Act
      const exhausted = await ec2.send(spotFleet());
      const spotRun = await failureOf(
        ec2.send(
          new RunInstancesCommand({
            MinCount: 1,
            MaxCount: 1,
            ImageId: IMAGE_ID,
            InstanceType: 'm5.large',
            SubnetId: subnets[0]!.SubnetId!,
            InstanceMarketOptions: { MarketType: 'spot' },
          }),
        ),
      );
      const onDemand = await ec2.send(
        fleet([pool('m5.large', 0)], {
          TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: 'on-demand' },
        }),
      );
      cloud.setCapacity({ market: 'spot' }, true);
      const restored = await ec2.send(spotFleet());

      // Assess
      expect(exhausted.Instances ?? []).toEqual([]);
      expect(exhausted.Errors).toHaveLength(2);
      expect(spotRun).toMatchObject({
        name: 'InsufficientInstanceCapacity',
        message: 'There is no Spot capacity available that matches your request.',
      });
      expect(onDemand.Instances![0]).toMatchObject({ Lifecycle: 'on-demand', InstanceType: 'm5.large' });
      expect(await instancesOfFleet(restored.FleetId!)).toHaveLength(2);
      expect(restored.Errors ?? []).toEqual([]);
    });

    it('RunInstances takes from the same pools: up to MaxCount, then refuses; a termination gives room back', async () => {
      // Prepare
      const onDemandPool = {
        instanceType: 'm5.large',
        availabilityZone: zones[0]!,
        market: 'on-demand' as const,
      };
      cloud.setCapacity(onDemandPool, 2);
      const run = (maxCount: number) =>
        ec2.send(
          new RunInstancesCommand({
            MinCount: 1,
            MaxCount: maxCount,
            ImageId: IMAGE_ID,
            InstanceType: 'm5.large',
            SubnetId: subnets[0]!.SubnetId!,
          }),
        );

      // Act
      const first = await run(3);
      const refused = await failureOf(run(1));
      const fleetRefused = await ec2.send(
        fleet([pool('m5.large', 0)], {
          TargetCapacitySpecification: { TotalTargetCapacity: 1, DefaultTargetCapacityType: 'on-demand' },
        }),
      );
      await ec2.send(new TerminateInstancesCommand({ InstanceIds: [first.Instances![0]!.InstanceId!] }));
      const afterTermination = await run(1);

      // Assess
      expect(first.Instances).toHaveLength(2);
      expect(refused).toMatchObject({
        name: 'InsufficientInstanceCapacity',
        message: expect.stringContaining(`choosing ${zones[1]}, ${zones[2]}`),
      });
      expect(fleetRefused.Errors!.map((e) => [e.Lifecycle, e.ErrorCode])).toEqual([
        ['on-demand', 'InsufficientInstanceCapacity'],
      ]);
      expect(afterTermination.Instances).toHaveLength(1);
      expect(cloud.capacityOf(onDemandPool)).toBe(0);
    });

    it('refuses Spot dearer than On-Demand when no MaxPrice is given (EC2 pays up to On-Demand)', async () => {
      // Prepare
      cloud.setOnDemandPrice('m5.large', 0.1);
      cloud.setSpotPrice({ instanceType: 'm5.large', availabilityZone: zones[0] }, 0.12);

      // Act
      const refused = await failureOf(
        ec2.send(
          new RunInstancesCommand({
            MinCount: 1,
            MaxCount: 1,
            ImageId: IMAGE_ID,
            InstanceType: 'm5.large',
            SubnetId: subnets[0]!.SubnetId!,
            InstanceMarketOptions: { MarketType: 'spot' },
          }),
        ),
      );

      // Assess
      expect(refused).toMatchObject({
        name: 'SpotMaxPriceTooLow',
        message:
          'Your Spot request price of 0.100000 is lower than the minimum required Spot request fulfillment price of 0.120000.',
      });
      expect(cloud.ec2.instances()).toEqual([]);
    });

    it('keeps a reclaimed Spot slot: an interruption does not give capacity back', async () => {
      // Prepare
      const spotPool = { instanceType: 'm5.large', availabilityZone: zones[0]!, market: 'spot' as const };
      cloud.setCapacity(spotPool, 1);
      const out = await ec2.send(fleet([pool('m5.large', 0)]));
      const instanceId = out.Instances![0]!.InstanceIds![0]!;
      await cloud.clock.advance(8_000);

      // Act
      cloud.interrupt(instanceId);
      await cloud.clock.advance(130_000);

      // Assess
      expect(cloud.ec2.instances().find((i) => i.instanceId === instanceId)?.state).toBe('terminated');
      expect(cloud.capacityOf(spotPool)).toBe(0);
    });
  });

  it('lists the Reserved Instances a scenario gave the account', async () => {
    // Prepare
    const zonal = cloud.addReservedInstances({
      instanceType: 'm6i.large',
      availabilityZone: zones[1],
      instanceCount: 2,
    });
    const regional = cloud.addReservedInstances({ instanceType: 'c5.large', offeringClass: 'convertible' });
    cloud.addReservedInstances({ instanceType: 'r5.large', state: 'retired' });

    // Act
    const active = await ec2.send(
      new DescribeReservedInstancesCommand({ Filters: [{ Name: 'state', Values: ['active'] }] }),
    );
    const inZone = await ec2.send(
      new DescribeReservedInstancesCommand({
        Filters: [
          { Name: 'availability-zone', Values: [zones[1]!] },
          { Name: 'instance-type', Values: ['m6i.large'] },
        ],
      }),
    );

    // Assess
    const byId = Object.fromEntries(active.ReservedInstances!.map((ri) => [ri.ReservedInstancesId, ri]));
    expect(Object.keys(byId).sort()).toEqual([zonal, regional].sort());
    expect(byId[zonal]).toMatchObject({
      InstanceType: 'm6i.large',
      AvailabilityZone: zones[1],
      Scope: 'Availability Zone',
      InstanceCount: 2,
      State: 'active',
      OfferingClass: 'standard',
      ProductDescription: 'Linux/UNIX',
    });
    expect(byId[regional]).toMatchObject({
      InstanceType: 'c5.large',
      Scope: 'Region',
      OfferingClass: 'convertible',
    });
    expect(byId[regional]!.AvailabilityZone).toBeUndefined();
    expect(inZone.ReservedInstances!.map((ri) => ri.ReservedInstancesId)).toEqual([zonal]);
  });

  it('scores Spot placement per AZ from the room left, low for fewer than 3 instance types', async () => {
    // Prepare
    cloud.setCapacity({ availabilityZone: zones[0], market: 'spot' }, 0);
    const scores = (instanceTypes: string[]) =>
      ec2.send(
        new GetSpotPlacementScoresCommand({
          InstanceTypes: instanceTypes,
          TargetCapacity: 10,
          SingleAvailabilityZone: true,
          RegionNames: [cloud.region],
        }),
      );

    // Act
    const diversified = await scores(['m5.large', 'c5.large', 'm6i.large']);
    const single = await scores(['m5.large']);

    // Assess
    const byZone = (out: typeof diversified) =>
      Object.fromEntries(out.SpotPlacementScores!.map((s) => [s.AvailabilityZoneId, s.Score]));
    expect(byZone(diversified)).toEqual({ 'use1-az1': 1, 'use1-az2': 10, 'use1-az3': 10 });
    expect(diversified.SpotPlacementScores!.every((s) => s.Region === cloud.region)).toBe(true);
    expect(byZone(single)).toEqual({ 'use1-az1': 1, 'use1-az2': 3, 'use1-az3': 3 });
  });

  it('expands InstanceRequirements into the matching instance types, a page at a time, as EC2 does', async () => {
    // Prepare
    const matching = async (input: Partial<GetInstanceTypesFromInstanceRequirementsCommandInput>) => {
      const types: string[] = [];
      let NextToken: string | undefined;
      do {
        const page = await ec2.send(
          new GetInstanceTypesFromInstanceRequirementsCommand({
            ArchitectureTypes: ['x86_64'],
            VirtualizationTypes: ['hvm'],
            InstanceRequirements: { VCpuCount: { Min: 2, Max: 2 }, MemoryMiB: { Min: 8192, Max: 8192 } },
            MaxResults: 2,
            NextToken,
            ...input,
          }),
        );
        types.push(...(page.InstanceTypes ?? []).map((t) => t.InstanceType!));
        NextToken = page.NextToken;
      } while (NextToken);
      return types;
    };

    // Act
    const general = await matching({});
    const graviton = await matching({ ArchitectureTypes: ['arm64'] });
    const notM5 = await matching({
      InstanceRequirements: {
        VCpuCount: { Min: 2, Max: 4 },
        MemoryMiB: { Min: 8192, Max: 16_384 },
        ExcludedInstanceTypes: ['m5*.*', 'm6*.*', 'm7*.*'],
        BurstablePerformance: 'included',
      },
    });
    const both = await failureOf(
      matching({
        InstanceRequirements: {
          VCpuCount: { Min: 2 },
          MemoryMiB: { Min: 0 },
          AllowedInstanceTypes: ['m5.*'],
          ExcludedInstanceTypes: ['m5.large'],
        },
      }),
    );
    const noArchitecture = await failureOf(matching({ ArchitectureTypes: [] }));

    // Assess: m families of 2 vCPUs and 8 GiB; t3.large is burstable, so left out unless asked for.
    expect(general).toEqual(['m5.large', 'm5a.large', 'm6a.large', 'm6i.large', 'm7i.large']);
    expect(graviton).toEqual(['m6g.large', 'm7g.large']);
    expect(notM5).toEqual(expect.arrayContaining(['c5.xlarge', 'c6i.xlarge', 'r5.large', 't3.large']));
    expect(notM5.filter((t) => t.startsWith('m'))).toEqual([]);
    expect(notM5.filter((t) => t.includes('g.'))).toEqual([]);
    expect(both).toMatchObject({ name: 'InvalidParameterCombination' });
    expect(noArchitecture).toMatchObject({ name: 'MissingParameter' });
  });

  it('answers DescribeSpotPriceHistory from the scenario prices, newest first', async () => {
    // Prepare
    const opened = cloud.clock.now();
    await cloud.clock.advance(3_600_000);
    cloud.setSpotPrice({ instanceType: 'm5.large', availabilityZone: zones[0] }, 0.0345);
    const history = (startTime: Date) =>
      ec2.send(
        new DescribeSpotPriceHistoryCommand({
          InstanceTypes: ['m5.large'],
          ProductDescriptions: ['Linux/UNIX'],
          StartTime: startTime,
          Filters: [{ Name: 'availability-zone', Values: [zones[0]!] }],
        }),
      );

    // Act
    const now = await history(cloud.clock.now());
    const sinceOpening = await history(opened);

    // Assess
    expect(
      now.SpotPriceHistory!.map((p) => [
        p.InstanceType,
        p.AvailabilityZone,
        p.ProductDescription,
        p.SpotPrice,
      ]),
    ).toEqual([['m5.large', zones[0], 'Linux/UNIX', '0.034500']]);
    expect(sinceOpening.SpotPriceHistory!.map((p) => p.Timestamp!.getTime())).toEqual([
      cloud.clock.now().getTime(),
      opened.getTime(),
    ]);
    expect(Number(sinceOpening.SpotPriceHistory![1]!.SpotPrice)).toBeLessThan(0.096 * 0.5);
  });
});
