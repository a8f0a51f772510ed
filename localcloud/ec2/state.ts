import { randomUUID } from 'node:crypto';
import type { EventEnvelope } from '../../src/core/events.ts';
import { AwsError, type VirtualClock } from '../contracts.ts';
import { CapacityPools, type Market, type Pool } from './capacity.ts';
import { invalidParameterValue, malformed, notFound } from './errors.ts';
import { isWellFormedId, newId, newMacAddress } from './ids.ts';
import { cidrContains, intToIp, ipToInt, isReserved, parseCidr } from './ipv4.ts';
import type {
  Address,
  Ec2Timings,
  Fleet,
  Instance,
  InstanceStateName,
  LaunchTemplate,
  NetworkInterface,
  Reservation,
  Snapshot,
  Subnet,
  Tags,
  Volume,
  Vpc,
} from './model.ts';
import { PriceBook } from './pricing.ts';
import type { ReservedInstances } from './reserved.ts';

export interface Ec2Options {
  clock: VirtualClock;
  region: string;
  accountId: string;
  timings: Ec2Timings;
  /** Elastic IP addresses per Region (AWS's default quota is 5). */
  elasticIpLimit: number;
}

/** Documentation address ranges (RFC 5737) for Elastic IPs. */
const PUBLIC_RANGES = ['203.0.113', '198.51.100', '192.0.2'];
/** Amazon-owned public IPs come from 198.18.0.0/15 (RFC 2544), so they never look like Elastic IPs. */
const AUTO_PUBLIC_BASE = 198 * 2 ** 24 + 18 * 2 ** 16;
const AUTO_PUBLIC_SIZE = 2 ** 17;

/**
 * EC2's state in one Region: every resource, the indexes that keep private IPs unique per
 * subnet, and the event stream. Actions validate against it and change it.
 */
export class Ec2State {
  readonly clock: VirtualClock;
  readonly region: string;
  readonly accountId: string;
  readonly timings: Ec2Timings;
  readonly elasticIpLimit: number;
  readonly availabilityZones: string[];

  readonly vpcs = new Map<string, Vpc>();
  readonly subnets = new Map<string, Subnet>();
  readonly launchTemplates = new Map<string, LaunchTemplate>();
  readonly instances = new Map<string, Instance>();
  readonly reservations = new Map<string, Reservation>();
  readonly volumes = new Map<string, Volume>();
  readonly snapshots = new Map<string, Snapshot>();
  readonly interfaces = new Map<string, NetworkInterface>();
  readonly addresses = new Map<string, Address>();
  /** RunInstances ClientToken → the request's fingerprint and its reservation. */
  readonly clientTokens = new Map<string, { fingerprint: string; reservationId: string }>();
  /** CreateLaunchTemplate ClientToken → template id. */
  readonly launchTemplateTokens = new Map<string, string>();
  /** CreateVolume ClientToken → volume id. */
  readonly volumeTokens = new Map<string, string>();
  /** Free instance slots per pool (type × AZ), Spot and On-Demand apart. */
  readonly capacity = new CapacityPools();
  /** On-Demand and Spot prices. */
  readonly prices: PriceBook;
  readonly reservedInstances = new Map<string, ReservedInstances>();
  /** EC2 Fleets by id (the local cloud runs `instant` fleets only). */
  readonly fleets = new Map<string, Fleet>();
  /** CreateFleet ClientToken → the request's fingerprint and its fleet. */
  readonly fleetTokens = new Map<string, { fingerprint: string; fleetId: string }>();

  /** subnet id → private IP → network interface id. */
  private readonly ipOwners = new Map<string, Map<string, string>>();
  private readonly eventListeners = new Set<(event: EventEnvelope) => void>();
  private readonly stateListeners = new Set<(instanceId: string, state: string) => void>();
  private nextPublicIp = 1;
  private nextAutoPublicIp = 1;
  private readonly autoPublicIps = new Set<string>();
  private attachCounter = 0;

  constructor(options: Ec2Options) {
    this.clock = options.clock;
    this.region = options.region;
    this.accountId = options.accountId;
    this.timings = options.timings;
    this.elasticIpLimit = options.elasticIpLimit;
    this.availabilityZones = ['a', 'b', 'c'].map((letter) => `${options.region}${letter}`);
    this.prices = new PriceBook(options.clock.now());
    this.createDefaultVpc();
  }

  private createDefaultVpc() {
    const vpc = this.addVpc('172.31.0.0/16', true);
    this.availabilityZones.forEach((zone, i) => {
      this.addSubnet(vpc.vpcId, `172.31.${i * 16}.0/20`, zone, true);
    });
  }

  addVpc(cidrBlock: string, isDefault: boolean): Vpc {
    const vpc: Vpc = {
      vpcId: newId('vpc'),
      cidrBlock,
      cidrAssociationId: newId('vpc-cidr-assoc'),
      isDefault,
      dhcpOptionsId: newId('dopt'),
      defaultSecurityGroupId: newId('sg'),
      tags: new Map(),
    };
    this.vpcs.set(vpc.vpcId, vpc);
    return vpc;
  }

  addSubnet(vpcId: string, cidrBlock: string, availabilityZone: string, defaultForAz: boolean): Subnet {
    const subnet: Subnet = {
      subnetId: newId('subnet'),
      vpcId,
      cidrBlock,
      availabilityZone,
      defaultForAz,
      mapPublicIpOnLaunch: defaultForAz,
      tags: new Map(),
    };
    this.subnets.set(subnet.subnetId, subnet);
    this.ipOwners.set(subnet.subnetId, new Map());
    return subnet;
  }

  now(): Date {
    return this.clock.now();
  }

  // ---- lookups that fail the way EC2 does ----

  instance(instanceId: string): Instance {
    if (!isWellFormedId('i', instanceId)) throw malformed('InvalidInstanceID.Malformed', instanceId, 'i');
    const instance = this.instances.get(instanceId);
    if (!instance)
      throw new AwsError('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
    return instance;
  }

  volume(volumeId: string): Volume {
    if (!isWellFormedId('vol', volumeId)) throw malformed('InvalidVolumeID.Malformed', volumeId, 'vol');
    const volume = this.volumes.get(volumeId);
    if (!volume) throw notFound('InvalidVolume.NotFound', volumeId);
    return volume;
  }

  snapshot(snapshotId: string): Snapshot {
    if (!isWellFormedId('snap', snapshotId))
      throw malformed('InvalidSnapshotID.Malformed', snapshotId, 'snap');
    const snapshot = this.snapshots.get(snapshotId);
    if (!snapshot) throw notFound('InvalidSnapshot.NotFound', snapshotId);
    return snapshot;
  }

  networkInterface(networkInterfaceId: string): NetworkInterface {
    if (!isWellFormedId('eni', networkInterfaceId)) {
      throw malformed('InvalidNetworkInterfaceID.Malformed', networkInterfaceId, 'eni');
    }
    const eni = this.interfaces.get(networkInterfaceId);
    if (!eni) throw notFound('InvalidNetworkInterfaceID.NotFound', networkInterfaceId);
    return eni;
  }

  address(allocationId: string): Address {
    if (!isWellFormedId('eipalloc', allocationId)) {
      throw malformed('InvalidAllocationID.Malformed', allocationId, 'eipalloc');
    }
    const address = this.addresses.get(allocationId);
    if (!address) throw notFound('InvalidAllocationID.NotFound', allocationId);
    return address;
  }

  vpc(vpcId: string): Vpc {
    if (!isWellFormedId('vpc', vpcId)) throw malformed('InvalidVpcID.Malformed', vpcId, 'vpc');
    const vpc = this.vpcs.get(vpcId);
    if (!vpc) throw notFound('InvalidVpcID.NotFound', vpcId);
    return vpc;
  }

  subnet(subnetId: string): Subnet {
    if (!isWellFormedId('subnet', subnetId)) throw malformed('InvalidSubnetID.Malformed', subnetId, 'subnet');
    const subnet = this.subnets.get(subnetId);
    if (!subnet) throw notFound('InvalidSubnetID.NotFound', subnetId);
    return subnet;
  }

  assertZone(zone: string) {
    if (!this.availabilityZones.includes(zone)) {
      throw invalidParameterValue(`Invalid availability zone: [${zone}]`);
    }
  }

  defaultSubnet(zone?: string): Subnet {
    const subnets = [...this.subnets.values()].filter((s) => s.defaultForAz);
    const subnet = zone ? subnets.find((s) => s.availabilityZone === zone) : subnets[0];
    if (!subnet) throw new AwsError('MissingInput', `No default subnet for availability zone: [${zone}].`);
    return subnet;
  }

  /** The tags of any taggable resource, by id. */
  taggable(resourceId: string): { resourceType: string; tags: Tags } {
    const prefix = resourceId.slice(0, resourceId.lastIndexOf('-'));
    switch (prefix) {
      case 'i':
        return { resourceType: 'instance', tags: this.instance(resourceId).tags };
      case 'vol':
        return { resourceType: 'volume', tags: this.volume(resourceId).tags };
      case 'snap':
        return { resourceType: 'snapshot', tags: this.snapshot(resourceId).tags };
      case 'eni':
        return { resourceType: 'network-interface', tags: this.networkInterface(resourceId).tags };
      case 'eipalloc':
        return { resourceType: 'elastic-ip', tags: this.address(resourceId).tags };
      case 'vpc':
        return { resourceType: 'vpc', tags: this.vpc(resourceId).tags };
      case 'subnet':
        return { resourceType: 'subnet', tags: this.subnet(resourceId).tags };
      case 'lt': {
        const template = this.launchTemplates.get(resourceId);
        if (!template) throw notFound('InvalidLaunchTemplateId.NotFound', resourceId);
        return { resourceType: 'launch-template', tags: template.tags };
      }
      default:
        throw new AwsError('InvalidID', `The ID '${resourceId}' is not valid`);
    }
  }

  /** Every taggable resource with its type, for DescribeTags. */
  *allTaggables(): Generator<{ resourceId: string; resourceType: string; tags: Tags }> {
    for (const i of this.instances.values())
      yield { resourceId: i.instanceId, resourceType: 'instance', tags: i.tags };
    for (const v of this.volumes.values())
      yield { resourceId: v.volumeId, resourceType: 'volume', tags: v.tags };
    for (const s of this.snapshots.values())
      yield { resourceId: s.snapshotId, resourceType: 'snapshot', tags: s.tags };
    for (const n of this.interfaces.values()) {
      yield { resourceId: n.networkInterfaceId, resourceType: 'network-interface', tags: n.tags };
    }
    for (const a of this.addresses.values())
      yield { resourceId: a.allocationId, resourceType: 'elastic-ip', tags: a.tags };
    for (const v of this.vpcs.values()) yield { resourceId: v.vpcId, resourceType: 'vpc', tags: v.tags };
    for (const s of this.subnets.values())
      yield { resourceId: s.subnetId, resourceType: 'subnet', tags: s.tags };
    for (const t of this.launchTemplates.values()) {
      yield { resourceId: t.launchTemplateId, resourceType: 'launch-template', tags: t.tags };
    }
  }

  // ---- private IPs ----

  /** Fails unless `ip` is a usable address of the subnet. */
  assertIpInSubnet(subnet: Subnet, ip: string) {
    const value = ipToInt(ip);
    if (value === undefined) throw invalidParameterValue(`Invalid value '${ip}' for IP address`);
    const cidr = parseCidr(subnet.cidrBlock)!;
    if (!cidrContains(cidr, value)) {
      throw invalidParameterValue(`Address ${ip} does not fall within the subnet's address range`);
    }
    if (isReserved(cidr, value)) throw invalidParameterValue(`Address ${ip} is reserved by AWS`);
  }

  /** The network interface holding `ip` in the subnet, if any. */
  ipOwner(subnetId: string, ip: string): string | undefined {
    return this.ipOwners.get(subnetId)?.get(ip);
  }

  claimIp(subnetId: string, ip: string, networkInterfaceId: string) {
    this.ipOwners.get(subnetId)?.set(ip, networkInterfaceId);
  }

  releaseIp(subnetId: string, ip: string) {
    this.ipOwners.get(subnetId)?.delete(ip);
  }

  /** The lowest free addresses of the subnet. */
  freeIps(subnet: Subnet, count: number, exclude: ReadonlySet<string> = new Set()): string[] {
    const cidr = parseCidr(subnet.cidrBlock)!;
    const owners = this.ipOwners.get(subnet.subnetId)!;
    const found: string[] = [];
    for (
      let value = cidr.network + 4;
      value < cidr.network + cidr.size - 1 && found.length < count;
      value++
    ) {
      const ip = intToIp(value);
      if (!owners.has(ip) && !exclude.has(ip)) found.push(ip);
    }
    if (found.length < count) {
      throw new AwsError(
        'InsufficientFreeAddressesInSubnet',
        `The specified subnet ${subnet.subnetId} does not have enough free addresses to satisfy the request.`,
      );
    }
    return found;
  }

  availableIpCount(subnet: Subnet): number {
    const cidr = parseCidr(subnet.cidrBlock)!;
    return cidr.size - 5 - (this.ipOwners.get(subnet.subnetId)?.size ?? 0);
  }

  /** The VPC whose CIDR holds `ip`. */
  vpcOfIp(ip: string): string | undefined {
    const value = ipToInt(ip);
    if (value === undefined) return undefined;
    for (const vpc of this.vpcs.values()) {
      if (cidrContains(parseCidr(vpc.cidrBlock)!, value)) return vpc.vpcId;
    }
    return undefined;
  }

  // ---- network interfaces ----

  createInterface(
    subnet: Subnet,
    options: {
      primaryIp?: string;
      secondaryIps?: string[];
      secondaryCount?: number;
      description?: string;
      securityGroupIds?: string[];
      tags?: Tags;
    },
  ): NetworkInterface {
    const primary = options.primaryIp ?? this.freeIps(subnet, 1)[0]!;
    const taken = new Set([primary, ...(options.secondaryIps ?? [])]);
    const extra = options.secondaryCount ? this.freeIps(subnet, options.secondaryCount, taken) : [];
    const vpc = this.vpcs.get(subnet.vpcId)!;
    const eni: NetworkInterface = {
      networkInterfaceId: newId('eni'),
      subnetId: subnet.subnetId,
      vpcId: subnet.vpcId,
      availabilityZone: subnet.availabilityZone,
      description: options.description ?? '',
      status: 'available',
      macAddress: newMacAddress(),
      privateIps: [
        { address: primary, primary: true },
        ...[...(options.secondaryIps ?? []), ...extra].map((address) => ({ address, primary: false })),
      ],
      securityGroupIds: options.securityGroupIds?.length
        ? options.securityGroupIds
        : [vpc.defaultSecurityGroupId],
      sourceDestCheck: true,
      tags: options.tags ?? new Map(),
    };
    for (const ip of eni.privateIps) this.claimIp(subnet.subnetId, ip.address, eni.networkInterfaceId);
    this.interfaces.set(eni.networkInterfaceId, eni);
    return eni;
  }

  /** Deletes an interface: frees its IPs and disassociates its Elastic IPs. */
  deleteInterface(eni: NetworkInterface) {
    eni.attachment?.cancel?.();
    for (const ip of eni.privateIps) this.releaseIp(eni.subnetId, ip.address);
    for (const address of this.addresses.values()) {
      if (address.association?.networkInterfaceId === eni.networkInterfaceId) delete address.association;
    }
    this.interfaces.delete(eni.networkInterfaceId);
  }

  interfacesOf(instanceId: string): NetworkInterface[] {
    return [...this.interfaces.values()]
      .filter((eni) => eni.attachment?.instanceId === instanceId)
      .sort((a, b) => a.attachment!.deviceIndex - b.attachment!.deviceIndex);
  }

  volumesOf(instanceId: string): Volume[] {
    return [...this.volumes.values()]
      .filter((volume) => volume.attachment?.instanceId === instanceId)
      .sort((a, b) => a.attachSeq - b.attachSeq);
  }

  nextAttachSeq(): number {
    return ++this.attachCounter;
  }

  /** The Elastic IP associated with a private IP of an interface, if any. */
  addressOn(networkInterfaceId: string, privateIp: string): Address | undefined {
    for (const address of this.addresses.values()) {
      const association = address.association;
      if (
        association?.networkInterfaceId === networkInterfaceId &&
        association.privateIpAddress === privateIp
      ) {
        return address;
      }
    }
    return undefined;
  }

  nextPublicAddress(): string {
    const used = new Set([...this.addresses.values()].map((a) => a.publicIp));
    for (let n = this.nextPublicIp; n < this.nextPublicIp + PUBLIC_RANGES.length * 254; n++) {
      const index = (n - 1) % (PUBLIC_RANGES.length * 254);
      const ip = `${PUBLIC_RANGES[Math.floor(index / 254)]}.${(index % 254) + 1}`;
      if (!used.has(ip)) {
        this.nextPublicIp = n + 1;
        return ip;
      }
    }
    throw new AwsError('AddressLimitExceeded', 'The maximum number of addresses has been reached.');
  }

  /**
   * Gives a running (or pending) instance its Amazon-owned public IP, or takes it back: EC2 releases
   * it when the instance stops or terminates, or when an Elastic IP lands on the primary address,
   * and assigns a new one when that Elastic IP leaves (single-interface instances only).
   */
  syncPublicIp(instance: Instance) {
    const interfaces = this.interfacesOf(instance.instanceId);
    const primary = interfaces.find((eni) => eni.attachment?.deviceIndex === 0);
    const primaryIp = primary?.privateIps.find((ip) => ip.primary)?.address;
    const hasElasticIp =
      primary && primaryIp ? this.addressOn(primary.networkInterfaceId, primaryIp) : undefined;
    const keep =
      instance.wantsPublicIp &&
      (instance.state === 'pending' || instance.state === 'running' || instance.state === 'stopping') &&
      !hasElasticIp;
    if (!keep && instance.publicIp) {
      this.autoPublicIps.delete(instance.publicIp);
      delete instance.publicIp;
    }
    if (keep && !instance.publicIp && interfaces.length === 1) {
      for (let n = 0; n < AUTO_PUBLIC_SIZE; n++) {
        const value = AUTO_PUBLIC_BASE + ((this.nextAutoPublicIp + n) % AUTO_PUBLIC_SIZE);
        const ip = intToIp(value);
        if (value % 256 === 0 || value % 256 === 255 || this.autoPublicIps.has(ip)) continue;
        this.nextAutoPublicIp += n + 1;
        this.autoPublicIps.add(ip);
        instance.publicIp = ip;
        return;
      }
    }
  }

  /** The instance a network interface is attached to, if any. */
  instanceOf(eni: NetworkInterface): Instance | undefined {
    const instanceId = eni.attachment?.instanceId;
    return instanceId ? this.instances.get(instanceId) : undefined;
  }

  // ---- capacity ----

  /** The pool an instance occupies. */
  poolOf(instance: Instance): Pool {
    return {
      availabilityZone: instance.availabilityZone,
      instanceType: instance.instanceType,
      market: marketOf(instance),
    };
  }

  // ---- events ----

  onEvent(listener: (event: EventEnvelope) => void): () => void {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }

  onStateChange(listener: (instanceId: string, state: string) => void): () => void {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }

  /** EventBridge delivers asynchronously: listeners run as a job after the change that caused it. */
  emit(detailType: string, instanceId: string, detail: Record<string, unknown>) {
    const event: EventEnvelope = {
      version: '0',
      id: randomUUID(),
      'detail-type': detailType,
      source: 'aws.ec2',
      account: this.accountId,
      time: `${this.now().toISOString().slice(0, 19)}Z`,
      region: this.region,
      resources: [`arn:aws:ec2:${this.region}:${this.accountId}:instance/${instanceId}`],
      detail,
    };
    for (const listener of [...this.eventListeners]) queueMicrotask(() => listener(structuredClone(event)));
  }

  /** Moves an instance to `state`, tells the directory's listeners and emits the state-change event. */
  transition(instance: Instance, state: InstanceStateName) {
    instance.state = state;
    for (const listener of [...this.stateListeners]) listener(instance.instanceId, state);
    this.emit('EC2 Instance State-change Notification', instance.instanceId, {
      'instance-id': instance.instanceId,
      state,
    });
  }
}

export const marketOf = (instance: Instance): Market => (instance.spot ? 'spot' : 'on-demand');
