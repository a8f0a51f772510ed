/** What the local EC2 keeps: the resources, as EC2 models them. */

export type Tags = Map<string, string>;

/** How long EC2's asynchronous transitions take, in virtual milliseconds. */
export interface Ec2Timings {
  /** `pending` → `running`. */
  instancePending: number;
  /** `stopping` → `stopped`. */
  instanceStopping: number;
  /** `shutting-down` → `terminated`. */
  instanceShuttingDown: number;
  /** How long a terminated instance stays visible to DescribeInstances. */
  terminatedVisible: number;
  /** `creating` → `available` for CreateVolume. */
  volumeCreating: number;
  /** Volume attachment `attaching` → `attached`. */
  volumeAttaching: number;
  /** Volume attachment `detaching` → volume `available`. */
  volumeDetaching: number;
  /** Network interface attachment `attaching` → `attached`. */
  interfaceAttaching: number;
  /** Network interface attachment `detaching` → interface `available`. */
  interfaceDetaching: number;
  /** Snapshot `pending` → `completed`. */
  snapshotPending: number;
}

export const DEFAULT_TIMINGS: Ec2Timings = {
  instancePending: 8_000,
  instanceStopping: 5_000,
  instanceShuttingDown: 5_000,
  terminatedVisible: 3_600_000,
  volumeCreating: 1_000,
  volumeAttaching: 2_000,
  volumeDetaching: 2_000,
  interfaceAttaching: 1_000,
  interfaceDetaching: 1_000,
  snapshotPending: 30_000,
};

export interface Vpc {
  vpcId: string;
  cidrBlock: string;
  cidrAssociationId: string;
  isDefault: boolean;
  dhcpOptionsId: string;
  /** The VPC's `default` security group (security groups are not modelled beyond their id). */
  defaultSecurityGroupId: string;
  tags: Tags;
}

export interface Subnet {
  subnetId: string;
  vpcId: string;
  cidrBlock: string;
  availabilityZone: string;
  defaultForAz: boolean;
  mapPublicIpOnLaunch: boolean;
  tags: Tags;
}

export interface TagSpecification {
  resourceType: string;
  tags: [key: string, value: string][];
}

export interface EbsSpec {
  volumeSize?: number;
  volumeType?: string;
  snapshotId?: string;
  deleteOnTermination?: boolean;
  iops?: number;
  encrypted?: boolean;
}

export interface BlockDeviceSpec {
  deviceName: string;
  noDevice?: boolean;
  virtualName?: string;
  ebs?: EbsSpec;
}

export interface NetworkInterfaceSpec {
  deviceIndex?: number;
  subnetId?: string;
  networkInterfaceId?: string;
  deleteOnTermination?: boolean;
  privateIpAddress?: string;
  secondaryPrivateIpAddressCount?: number;
  groups: string[];
  description?: string;
  associatePublicIpAddress?: boolean;
}

export interface SpotOptions {
  maxPrice?: string;
  spotInstanceType?: 'one-time' | 'persistent';
  instanceInterruptionBehavior?: 'terminate' | 'stop' | 'hibernate';
}

/** Launch parameters, as a launch template holds them and as RunInstances takes them. */
export interface LaunchData {
  imageId?: string;
  instanceType?: string;
  keyName?: string;
  securityGroupIds: string[];
  marketType?: string;
  spotOptions?: SpotOptions;
  tagSpecifications: TagSpecification[];
  blockDeviceMappings: BlockDeviceSpec[];
  networkInterfaces: NetworkInterfaceSpec[];
  availabilityZone?: string;
  disableApiTermination?: boolean;
  userData?: string;
  iamInstanceProfile?: { arn?: string; name?: string };
}

export interface LaunchTemplateVersion {
  versionNumber: number;
  description?: string;
  createTime: Date;
  data: LaunchData;
}

export interface LaunchTemplate {
  launchTemplateId: string;
  launchTemplateName: string;
  createTime: Date;
  defaultVersion: number;
  versions: LaunchTemplateVersion[];
  tags: Tags;
}

export type InstanceStateName =
  | 'pending'
  | 'running'
  | 'stopping'
  | 'stopped'
  | 'shutting-down'
  | 'terminated';

export const STATE_CODES: Record<InstanceStateName, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

export interface Instance {
  instanceId: string;
  reservationId: string;
  imageId: string;
  instanceType: string;
  keyName?: string;
  state: InstanceStateName;
  stateReason?: { code: string; message: string };
  stateTransitionReason: string;
  launchTime: Date;
  amiLaunchIndex: number;
  availabilityZone: string;
  subnetId: string;
  vpcId: string;
  spot?: {
    requestId: string;
    type: 'one-time' | 'persistent';
    interruptionBehavior: 'terminate' | 'stop' | 'hibernate';
    maxPrice?: string;
  };
  clientToken?: string;
  rootDeviceName: string;
  tags: Tags;
  securityGroupIds: string[];
  disableApiTermination: boolean;
  launchTemplate?: { id: string; version: string };
  /** Whether EC2 gives the instance an Amazon-owned public IPv4 address (default subnets do). */
  wantsPublicIp: boolean;
  /** The Amazon-owned public address it has now: none while stopped, or while an Elastic IP is on its primary IP. */
  publicIp?: string;
  /** Cancels the scheduled end of the current transition (e.g. `pending` → `running`). */
  cancelTransition?: () => void;
  /** Cancels scheduled interruption steps. */
  cancelInterruption?: () => void;
}

export interface Reservation {
  reservationId: string;
  instanceIds: string[];
  securityGroupIds: string[];
}

export interface VolumeAttachment {
  instanceId: string;
  device: string;
  state: 'attaching' | 'attached' | 'detaching';
  attachTime: Date;
  deleteOnTermination: boolean;
  /** Cancels the scheduled end of `attaching`/`detaching`. */
  cancel?: () => void;
}

export interface Volume {
  volumeId: string;
  size: number;
  snapshotId?: string;
  availabilityZone: string;
  state: 'creating' | 'available' | 'in-use';
  volumeType: string;
  iops?: number;
  throughput?: number;
  encrypted: boolean;
  createTime: Date;
  tags: Tags;
  attachment?: VolumeAttachment;
  /** Attachment order, so DescribeInstances lists devices in the order they were attached. */
  attachSeq: number;
}

export interface Snapshot {
  snapshotId: string;
  volumeId: string;
  volumeSize: number;
  state: 'pending' | 'completed';
  startTime: Date;
  completionTime?: Date;
  description: string;
  encrypted: boolean;
  tags: Tags;
}

export interface PrivateIp {
  address: string;
  primary: boolean;
}

export interface InterfaceAttachment {
  attachmentId: string;
  instanceId: string;
  deviceIndex: number;
  status: 'attaching' | 'attached' | 'detaching';
  attachTime: Date;
  deleteOnTermination: boolean;
  cancel?: () => void;
}

export interface NetworkInterface {
  networkInterfaceId: string;
  subnetId: string;
  vpcId: string;
  availabilityZone: string;
  description: string;
  status: 'available' | 'in-use';
  macAddress: string;
  privateIps: PrivateIp[];
  securityGroupIds: string[];
  sourceDestCheck: boolean;
  attachment?: InterfaceAttachment;
  tags: Tags;
}

export interface Address {
  allocationId: string;
  publicIp: string;
  association?: { associationId: string; networkInterfaceId: string; privateIpAddress: string };
  tags: Tags;
}

/** A launch template as a fleet names it. */
export interface FleetTemplateSpec {
  launchTemplateId?: string;
  launchTemplateName?: string;
  version?: string;
}

/** One override of a fleet's launch template config, as the request gave it. */
export interface FleetOverride {
  instanceType?: string;
  subnetId?: string;
  availabilityZone?: string;
  maxPrice?: string;
  weightedCapacity?: number;
  priority?: number;
  imageId?: string;
  /** Attribute-based selection, kept as sent (`VCpuCount.Min` → `2`, …). */
  instanceRequirements?: Record<string, string>;
}

export interface FleetLaunchTemplateConfig {
  template: FleetTemplateSpec;
  overrides: FleetOverride[];
}

/** Instances one override launched, or why it launched none (or fewer than asked). */
export interface FleetOutcome {
  template: FleetTemplateSpec;
  override: FleetOverride;
  lifecycle: 'spot' | 'on-demand';
}

export interface FleetLaunch extends FleetOutcome {
  instanceType: string;
  instanceIds: string[];
}

export interface FleetError extends FleetOutcome {
  errorCode: string;
  errorMessage: string;
}

export interface Fleet {
  fleetId: string;
  type: 'instant';
  createTime: Date;
  clientToken?: string;
  tags: Tags;
  targetCapacity: {
    total: number;
    onDemand: number;
    spot: number;
    defaultType?: 'spot' | 'on-demand';
  };
  spotAllocationStrategy: string;
  onDemandAllocationStrategy: string;
  instanceInterruptionBehavior: 'terminate' | 'stop' | 'hibernate';
  launchTemplateConfigs: FleetLaunchTemplateConfig[];
  launches: FleetLaunch[];
  errors: FleetError[];
  fulfilledCapacity: number;
  fulfilledOnDemandCapacity: number;
}
