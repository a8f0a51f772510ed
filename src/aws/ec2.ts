import { createHash } from 'node:crypto';
import {
  type _InstanceType,
  DescribeAddressesCommand,
  DescribeInstancesCommand,
  type EC2Client,
  type Filter,
  type Instance,
  type InstanceNetworkInterface,
  RunInstancesCommand,
  type RunInstancesCommandInput,
  type Tag,
  type TagSpecification,
} from '@aws-sdk/client-ec2';
import type {
  AttachedInterface,
  AttachedVolume,
  Compute,
  InstanceFacts,
  InstanceState,
  InterfacePrivateIp,
  LaunchRequest,
  LaunchResult,
} from '../core/ports.ts';
import { inBatches } from './batching.ts';
import { errorCode, isCapacityError, isDryRunSuccess, UnexpectedResponseError } from './errors.ts';
import type { PlanLog } from './dry-run.ts';

/**
 * EC2 accepts at most 200 values in one filter (`FilterLimitExceeded` above that), so ids are
 * described 200 to a call. The 1000-id limit applies only to the `InstanceIds` parameter, which
 * fails the whole call when one id is unknown.
 */
export const FILTER_VALUES_PER_CALL = 200;

const LAUNCH_TEMPLATE_ID_TAG = 'aws:ec2launchtemplate:id';
const LAUNCH_TEMPLATE_VERSION_TAG = 'aws:ec2launchtemplate:version';
/** `IpOwnerId` of a public IP that Amazon assigned at launch; an Elastic IP is owned by an account. */
const AMAZON_OWNED = 'amazon';

const INSTANCE_STATES: ReadonlySet<string> = new Set<InstanceState>([
  'pending',
  'running',
  'stopping',
  'stopped',
  'shutting-down',
  'terminated',
]);
const LIFECYCLES: ReadonlySet<string> = new Set(['spot', 'scheduled', 'capacity-block']);

export interface Ec2ComputeOptions {
  /** One client per container, built at cold start. */
  client: EC2Client;
  /** Launch with `DryRun: true`: nothing is created, the plan records what would be. Reads are real. */
  dryRun?: boolean;
  plan?: PlanLog;
  /** Aborts calls in flight, e.g. shortly before the Lambda timeout. */
  abortSignal?: AbortSignal;
}

interface ElasticIp {
  allocationId: string;
  associationId?: string;
}

/**
 * {@link Compute} over the EC2 API.
 * @example
 * const compute = new Ec2Compute({ client: clients.ec2, abortSignal: context.signal });
 * const facts = await compute.describeInstances(['i-0abc']);
 */
export class Ec2Compute implements Compute {
  readonly #client: EC2Client;
  readonly #dryRun: boolean;
  readonly #plan: PlanLog | undefined;
  readonly #abortSignal: AbortSignal | undefined;

  constructor(options: Ec2ComputeOptions) {
    this.#client = options.client;
    this.#dryRun = options.dryRun ?? false;
    this.#plan = options.plan;
    this.#abortSignal = options.abortSignal;
  }

  /**
   * Filters on `instance-id` rather than passing `InstanceIds`, so an id EC2 no longer knows is
   * simply absent from the result. Elastic IPs are looked up with one `DescribeAddresses` call
   * per 200 addresses, and only when an interface has a public IP not owned by Amazon.
   */
  async describeInstances(instanceIds: readonly string[]): Promise<Map<string, InstanceFacts>> {
    const facts = new Map<string, InstanceFacts>();
    const ids = [...new Set(instanceIds)];
    if (ids.length === 0) return facts;

    const batches = await Promise.all(
      inBatches(ids, FILTER_VALUES_PER_CALL).map((batch) => this.#describe(batch)),
    );
    const instances = batches.flat();
    const elasticIps = await this.#elasticIps(instances);
    for (const instance of instances) {
      const fact = toInstanceFacts(instance, elasticIps);
      facts.set(fact.instanceId, fact);
    }
    return facts;
  }

  /** Live instances (pending, running, stopping, stopped) carrying every one of the tags. */
  async instancesTagged(tags: Record<string, string>): Promise<InstanceFacts[]> {
    const instances = await this.#describeFiltered([
      ...Object.entries(tags).map(([key, value]) => ({ Name: `tag:${key}`, Values: [value] })),
      { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
    ]);
    const elasticIps = await this.#elasticIps(instances);
    return instances.map((instance) => toInstanceFacts(instance, elasticIps));
  }

  /**
   * Launches one instance from the request's launch template. The ClientToken makes a repeated
   * call return the instance of the first. A capacity error is a result, not a throw.
   */
  async launch(request: LaunchRequest): Promise<LaunchResult> {
    const input = runInstancesInput(request);
    if (this.#dryRun) return this.#dryRunLaunch(input);
    try {
      const output = await this.#client.send(new RunInstancesCommand(input), {
        abortSignal: this.#abortSignal,
      });
      const instanceId = output.Instances?.[0]?.InstanceId;
      if (instanceId === undefined) {
        throw new UnexpectedResponseError(
          `RunInstances (ClientToken ${request.clientToken}) returned no instance id.`,
        );
      }
      return { ok: true, instanceId };
    } catch (error) {
      if (isCapacityError(error)) {
        return {
          ok: false,
          reason: 'capacity',
          code: errorCode(error) ?? 'Unknown',
          message: error instanceof Error ? error.message : String(error),
        };
      }
      throw error;
    }
  }

  async #dryRunLaunch(input: RunInstancesCommandInput): Promise<LaunchResult> {
    const clientToken = input.ClientToken ?? '';
    try {
      await this.#client.send(new RunInstancesCommand({ ...input, DryRun: true }), {
        abortSignal: this.#abortSignal,
      });
    } catch (error) {
      if (!isDryRunSuccess(error)) throw error;
      this.#plan?.record({ service: 'ec2', action: 'RunInstances', params: input, outcome: 'would-succeed' });
      return { ok: true, instanceId: dryRunInstanceId(clientToken) };
    }
    throw new UnexpectedResponseError(
      `RunInstances with DryRun (ClientToken ${clientToken}) succeeded instead of answering DryRunOperation.`,
    );
  }

  #describe(instanceIds: string[]): Promise<Instance[]> {
    return this.#describeFiltered([{ Name: 'instance-id', Values: instanceIds }]);
  }

  async #describeFiltered(filters: Filter[]): Promise<Instance[]> {
    const instances: Instance[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.#client.send(
        new DescribeInstancesCommand({
          Filters: filters,
          NextToken: nextToken,
        }),
        { abortSignal: this.#abortSignal },
      );
      for (const reservation of page.Reservations ?? []) instances.push(...(reservation.Instances ?? []));
      nextToken = page.NextToken || undefined;
    } while (nextToken !== undefined);
    return instances;
  }

  /** Allocation and association of every Elastic IP on the instances, by public IP. */
  async #elasticIps(instances: readonly Instance[]): Promise<Map<string, ElasticIp>> {
    const publicIps = new Set<string>();
    for (const instance of instances) {
      for (const networkInterface of instance.NetworkInterfaces ?? []) {
        for (const address of networkInterface.PrivateIpAddresses ?? []) {
          const association = address.Association;
          if (association?.PublicIp && association.IpOwnerId !== AMAZON_OWNED)
            publicIps.add(association.PublicIp);
        }
      }
    }
    const elasticIps = new Map<string, ElasticIp>();
    if (publicIps.size === 0) return elasticIps;
    const pages = await Promise.all(
      inBatches([...publicIps], FILTER_VALUES_PER_CALL).map((batch) =>
        this.#client.send(new DescribeAddressesCommand({ Filters: [{ Name: 'public-ip', Values: batch }] }), {
          abortSignal: this.#abortSignal,
        }),
      ),
    );
    for (const page of pages) {
      for (const address of page.Addresses ?? []) {
        if (address.PublicIp === undefined || address.AllocationId === undefined) continue;
        elasticIps.set(address.PublicIp, {
          allocationId: address.AllocationId,
          ...(address.AssociationId ? { associationId: address.AssociationId } : {}),
        });
      }
    }
    return elasticIps;
  }
}

/**
 * The instance id a dry-run launch reports: `i-dryrun` and 9 hex digits of the token's hash, so the
 * same token always gives the same id and no real instance id looks like it.
 */
export function dryRunInstanceId(clientToken: string): string {
  return `i-dryrun${createHash('sha256').update(clientToken).digest('hex').slice(0, 9)}`;
}

function runInstancesInput(request: LaunchRequest): RunInstancesCommandInput {
  // EC2 rejects a launch that sets tags with the reserved `aws:` prefix.
  const tags: Tag[] = Object.entries(request.tags)
    .filter(([key]) => !key.startsWith('aws:'))
    .map(([Key, Value]) => ({ Key, Value }));
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

function required<T>(value: T | undefined, what: string, instanceId: string | undefined): T {
  if (value === undefined || value === '') {
    throw new UnexpectedResponseError(
      `DescribeInstances returned ${instanceId ?? 'an instance'} without ${what}.`,
    );
  }
  return value;
}

function toInstanceFacts(instance: Instance, elasticIps: ReadonlyMap<string, ElasticIp>): InstanceFacts {
  const instanceId = required(instance.InstanceId, 'an InstanceId', undefined);
  const state = required(instance.State?.Name, 'a State', instanceId);
  if (!INSTANCE_STATES.has(state)) {
    throw new UnexpectedResponseError(`DescribeInstances returned ${instanceId} in unknown state ${state}.`);
  }
  const tags: Record<string, string> = {};
  for (const tag of instance.Tags ?? []) if (tag.Key !== undefined) tags[tag.Key] = tag.Value ?? '';
  const templateId = tags[LAUNCH_TEMPLATE_ID_TAG];
  const templateVersion = tags[LAUNCH_TEMPLATE_VERSION_TAG];
  const lifecycle = instance.InstanceLifecycle;

  return {
    instanceId,
    state: state as InstanceState,
    ...(instance.StateReason?.Code ? { stateReason: instance.StateReason.Code } : {}),
    instanceType: required(instance.InstanceType, 'an InstanceType', instanceId),
    availabilityZone: required(instance.Placement?.AvailabilityZone, 'an AvailabilityZone', instanceId),
    ...(instance.SubnetId ? { subnetId: instance.SubnetId } : {}),
    ...(instance.VpcId ? { vpcId: instance.VpcId } : {}),
    ...(instance.PrivateIpAddress ? { privateIpAddress: instance.PrivateIpAddress } : {}),
    ...(lifecycle !== undefined && LIFECYCLES.has(lifecycle)
      ? { lifecycle: lifecycle as NonNullable<InstanceFacts['lifecycle']> }
      : {}),
    ...(templateId && templateVersion
      ? { launchTemplate: { id: templateId, version: templateVersion } }
      : {}),
    ...(instance.ClientToken ? { clientToken: instance.ClientToken } : {}),
    ...(instance.LaunchTime ? { launchTime: instance.LaunchTime.toISOString() } : {}),
    ...(instance.RootDeviceName ? { rootDeviceName: instance.RootDeviceName } : {}),
    tags,
    volumes: toVolumes(instance),
    networkInterfaces: (instance.NetworkInterfaces ?? [])
      .flatMap((networkInterface) => toInterface(networkInterface, elasticIps))
      .sort((a, b) => a.deviceIndex - b.deviceIndex),
  };
}

function toVolumes(instance: Instance): AttachedVolume[] {
  const volumes: AttachedVolume[] = [];
  for (const mapping of instance.BlockDeviceMappings ?? []) {
    const ebs = mapping.Ebs;
    if (ebs?.VolumeId === undefined) continue;
    volumes.push({
      volumeId: ebs.VolumeId,
      deviceName: mapping.DeviceName ?? '',
      deleteOnTermination: ebs.DeleteOnTermination ?? false,
      status: ebs.Status ?? '',
    });
  }
  return volumes;
}

/** The interface as the port describes it, or nothing for an interface without id or attachment. */
function toInterface(
  networkInterface: InstanceNetworkInterface,
  elasticIps: ReadonlyMap<string, ElasticIp>,
): AttachedInterface[] {
  const attachment = networkInterface.Attachment;
  if (networkInterface.NetworkInterfaceId === undefined || attachment?.AttachmentId === undefined) return [];
  const privateIps: InterfacePrivateIp[] = [];
  for (const address of networkInterface.PrivateIpAddresses ?? []) {
    if (address.PrivateIpAddress === undefined) continue;
    const publicIp = address.Association?.PublicIp;
    const elasticIp = publicIp === undefined ? undefined : elasticIps.get(publicIp);
    privateIps.push({
      privateIpAddress: address.PrivateIpAddress,
      primary: address.Primary ?? false,
      ...(publicIp !== undefined && elasticIp !== undefined ? { elasticIp: { publicIp, ...elasticIp } } : {}),
    });
  }
  return [
    {
      networkInterfaceId: networkInterface.NetworkInterfaceId,
      deviceIndex: attachment.DeviceIndex ?? 0,
      attachmentId: attachment.AttachmentId,
      deleteOnTermination: attachment.DeleteOnTermination ?? false,
      subnetId: networkInterface.SubnetId ?? '',
      status: attachment.Status ?? '',
      privateIps,
    },
  ];
}
