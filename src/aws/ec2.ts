import {
  type _InstanceType,
  CreateFleetCommand,
  type CreateFleetCommandInput,
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  type Filter,
  type Instance,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  type TagSpecification,
  TerminateInstancesCommand,
  type TerminateInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { isLeavingOrGone } from '../core/facts.ts';
import type {
  Compute,
  FleetRequest,
  FleetResult,
  InstanceFacts,
  LaunchRequest,
  LaunchResult,
} from '../core/ports.ts';
import {
  allPages,
  byIds,
  dryRunInstanceId,
  Ec2Adapter,
  type Ec2AdapterOptions,
  toTagList,
} from './ec2-base.ts';
import { accountOwnedPublicIps, type ElasticIpAllocation, toInstanceFacts } from './ec2-facts.ts';
import { errorCode, isCapacityError, UnexpectedResponseError, UnmanagedInstanceError } from './errors.ts';

/** Launches go with `DryRun: true` in a dry run: nothing is created, the plan records what would be. */
export type Ec2ComputeOptions = Ec2AdapterOptions;

/**
 * {@link Compute} over the EC2 API.
 * @example
 * const compute = new Ec2Compute({ client: clients.ec2, abortSignal: context.signal });
 * const facts = await compute.describeInstances(['i-0abc']);
 */
export class Ec2Compute extends Ec2Adapter implements Compute {
  /**
   * Filters on `instance-id` rather than passing `InstanceIds`, so an id EC2 no longer knows is
   * simply absent from the result. Elastic IPs are looked up with one `DescribeAddresses` call
   * per 200 addresses, and only when an interface has a public IP not owned by Amazon; `described`
   * gets the facts before that lookup.
   */
  async describeInstances(
    instanceIds: readonly string[],
    { described }: { described?: (facts: Map<string, InstanceFacts>) => void } = {},
  ): Promise<Map<string, InstanceFacts>> {
    const instances = await byIds(instanceIds, (batch) =>
      this.#instances([{ Name: 'instance-id', Values: batch }]),
    );
    if (described) {
      const early = instances.map((instance) => toInstanceFacts(instance, new Map()));
      described(new Map(early.map((fact) => [fact.instanceId, fact])));
    }
    const facts = await this.#toFacts(instances);
    return new Map(facts.map((fact) => [fact.instanceId, fact]));
  }

  /** Live instances (pending, running, stopping, stopped) carrying every one of the tags. */
  async instancesTagged(tags: Record<string, string>): Promise<InstanceFacts[]> {
    const instances = await this.#instances([
      ...Object.entries(tags).map(([key, value]) => ({ Name: `tag:${key}`, Values: [value] })),
      { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
    ]);
    return this.#toFacts(instances);
  }

  /**
   * Launches one instance from the request's launch template. The ClientToken makes a repeated
   * call return the instance of the first. A capacity error is a result, not a throw (in a dry
   * run, EC2's refusal is thrown as is).
   */
  async launch(request: LaunchRequest): Promise<LaunchResult> {
    try {
      const sent = await this.mutate('RunInstances', runInstancesInput(request), (input) =>
        this.client.send(new RunInstancesCommand(input), this.call),
      );
      if (sent.planned) return { ok: true, instanceId: dryRunInstanceId(request.clientToken) };
      const instanceId = sent.output.Instances?.[0]?.InstanceId;
      if (instanceId === undefined) {
        throw new UnexpectedResponseError(
          `RunInstances (ClientToken ${request.clientToken}) returned no instance id.`,
        );
      }
      const lifecycle = sent.output.Instances?.[0]?.InstanceLifecycle === 'spot' ? 'spot' : 'on-demand';
      return { ok: true, instanceId, lifecycle };
    } catch (error) {
      if (this.dryRun || !isCapacityError(error)) throw error;
      return {
        ok: false,
        reason: 'capacity',
        code: errorCode(error) ?? 'Unknown',
        message: error instanceof Error ? error.message : String(error),
      };
    }
  }

  /**
   * One `CreateFleet` of type `instant`. EC2 answers with the instances launched (each with the
   * override used and its lifecycle) and an error per override that failed; both are returned as
   * they are. In a dry run nothing launches: the plan records the request, the result is empty.
   */
  async launchFleet(request: FleetRequest): Promise<FleetResult> {
    const sent = await this.mutate('CreateFleet', createFleetInput(request), (input) =>
      this.client.send(new CreateFleetCommand(input), this.call),
    );
    if (sent.planned) return { instances: [], errors: [] };
    const zoneOf = new Map(request.overrides.map((o) => [o.subnetId, o.availabilityZone]));
    const instances = (sent.output.Instances ?? []).flatMap((group) => {
      const override = group.LaunchTemplateAndOverrides?.Overrides;
      const subnetId = override?.SubnetId ?? '';
      return (group.InstanceIds ?? []).map((instanceId) => ({
        instanceId,
        instanceType: group.InstanceType ?? override?.InstanceType ?? '',
        subnetId,
        availabilityZone: override?.AvailabilityZone ?? zoneOf.get(subnetId) ?? '',
        lifecycle: group.Lifecycle === 'spot' ? ('spot' as const) : ('on-demand' as const),
      }));
    });
    const errors = (sent.output.Errors ?? []).map((e) => {
      const override = e.LaunchTemplateAndOverrides?.Overrides;
      return {
        ...(override?.InstanceType ? { instanceType: override.InstanceType } : {}),
        ...(override?.SubnetId ? { subnetId: override.SubnetId } : {}),
        lifecycle: e.Lifecycle === 'spot' ? ('spot' as const) : ('on-demand' as const),
        code: e.ErrorCode ?? 'Unknown',
        message: e.ErrorMessage ?? '',
      };
    });
    return { instances, errors };
  }

  /**
   * `TerminateInstances` of one instance, only after reading that it carries `managedTag` (the IAM
   * policy requires the tag as well). An instance already leaving or gone is left as it is.
   */
  async terminate(instanceId: string, managedTag: { key: string; value: string }): Promise<boolean> {
    const facts = (await this.describeInstances([instanceId])).get(instanceId);
    if (facts === undefined || isLeavingOrGone(facts.state)) return false;
    if (facts.tags[managedTag.key] !== managedTag.value) {
      throw new UnmanagedInstanceError(
        `Refusing to terminate ${instanceId}: it does not carry ${managedTag.key}=${managedTag.value}. Only managed instances are terminated; tag it or terminate it yourself.`,
      );
    }
    const request: TerminateInstancesCommandInput = { InstanceIds: [instanceId] };
    const sent = await this.mutate('TerminateInstances', request, (input) =>
      this.client.send(new TerminateInstancesCommand(input), this.call),
    );
    return !sent.planned;
  }

  #instances(filters: Filter[]): Promise<Instance[]> {
    return allPages(async (NextToken) => {
      const page = await this.client.send(
        new DescribeInstancesCommand({ Filters: filters, NextToken }),
        this.call,
      );
      return {
        items: page.Reservations?.flatMap((reservation) => reservation.Instances ?? []),
        nextToken: page.NextToken,
      };
    });
  }

  async #toFacts(instances: readonly Instance[]): Promise<InstanceFacts[]> {
    const elasticIps = await this.#elasticIps(accountOwnedPublicIps(instances));
    return instances.map((instance) => toInstanceFacts(instance, elasticIps));
  }

  /** The allocation and association of each Elastic IP among `publicIps`, by public IP. */
  async #elasticIps(publicIps: Iterable<string>): Promise<Map<string, ElasticIpAllocation>> {
    const addresses = await byIds(publicIps, async (batch) => {
      const page = await this.client.send(
        new DescribeAddressesCommand({ Filters: [{ Name: 'public-ip', Values: batch }] }),
        this.call,
      );
      return page.Addresses ?? [];
    });
    const elasticIps = new Map<string, ElasticIpAllocation>();
    for (const address of addresses) {
      if (address.PublicIp === undefined || address.AllocationId === undefined) continue;
      elasticIps.set(address.PublicIp, {
        allocationId: address.AllocationId,
        ...(address.AssociationId ? { associationId: address.AssociationId } : {}),
      });
    }
    return elasticIps;
  }
}

function runInstancesInput(request: LaunchRequest): RunInstancesCommandInput {
  const tags = toTagList(request.tags);
  const tagSpecifications: TagSpecification[] =
    tags.length === 0
      ? []
      : [
          { ResourceType: 'instance', Tags: tags },
          { ResourceType: 'volume', Tags: tags },
          // The IAM policy lets the handoff move IPs and keep interfaces only when they are tagged managed.
          { ResourceType: 'network-interface', Tags: tags },
        ];
  return {
    LaunchTemplate: { LaunchTemplateId: request.launchTemplate.id, Version: request.launchTemplate.version },
    SubnetId: request.subnetId,
    MinCount: 1,
    MaxCount: 1,
    ClientToken: request.clientToken,
    ...(request.instanceType ? { InstanceType: request.instanceType as _InstanceType } : {}),
    ...(request.spot ? { InstanceMarketOptions: { MarketType: 'spot' as const } } : {}),
    ...(request.privateIpAddress ? { PrivateIpAddress: request.privateIpAddress } : {}),
    ...(request.rootSnapshot
      ? {
          BlockDeviceMappings: [
            {
              DeviceName: request.rootSnapshot.deviceName,
              Ebs: { SnapshotId: request.rootSnapshot.snapshotId, DeleteOnTermination: true },
            },
          ],
        }
      : {}),
    ...(tagSpecifications.length > 0 ? { TagSpecifications: tagSpecifications } : {}),
  };
}

function createFleetInput(request: FleetRequest): CreateFleetCommandInput {
  const tags = toTagList(request.tags);
  return {
    Type: 'instant',
    ClientToken: request.clientToken,
    LaunchTemplateConfigs: [
      {
        LaunchTemplateSpecification: {
          LaunchTemplateId: request.launchTemplate.id,
          Version: request.launchTemplate.version,
        },
        Overrides: request.overrides.map((o) => ({
          InstanceType: o.instanceType as _InstanceType,
          SubnetId: o.subnetId,
          AvailabilityZone: o.availabilityZone,
          ...(o.priority === undefined ? {} : { Priority: o.priority }),
          ...(o.weightedCapacity === undefined ? {} : { WeightedCapacity: o.weightedCapacity }),
        })),
      },
    ],
    TargetCapacitySpecification: {
      TotalTargetCapacity: request.total,
      OnDemandTargetCapacity: request.onDemand,
      SpotTargetCapacity: request.total - request.onDemand,
      DefaultTargetCapacityType: 'spot',
    },
    SpotOptions: { AllocationStrategy: request.spotStrategy },
    OnDemandOptions: { AllocationStrategy: request.onDemandStrategy },
    ...(tags.length > 0 ? { TagSpecifications: [{ ResourceType: 'instance', Tags: tags }] } : {}),
  };
}
