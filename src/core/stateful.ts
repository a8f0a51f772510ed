import type { InstanceFacts, SubnetFacts } from './facts.ts';
import type { HandoffTags } from './ports.ts';
import type { Handover, HandoverResource, RootVolumeRecord, StatefulOptions, Workflow } from './workflow.ts';

/**
 * The stateful handoff's decisions: the old instance's EBS data volumes, secondary network
 * interfaces, secondary private IPs and Elastic IPs move to the replacement. Nothing is ever lost:
 * every resource ends attached to exactly one instance, or available, tagged with its workflow, with
 * the reason recorded. Pure: nothing here performs I/O (the actions are in `steps/`).
 */

/** The options of an instance that asks for the stateful handoff (from its tags), or undefined. */
export function statefulOptions(
  instanceTags: Record<string, string>,
  tags: Pick<HandoffTags, 'stateful' | 'options'>,
): StatefulOptions | undefined {
  if (instanceTags[tags.stateful] !== 'true') return undefined;
  const option = tags.options;
  const off = (key: string) => instanceTags[key] === 'none' || instanceTags[key] === 'false';
  return {
    volumes: !off(option.volumes),
    networkInterfaces: !off(option.networkInterfaces),
    privateIps: !off(option.privateIps),
    elasticIps: !off(option.elasticIps),
    primaryIp: instanceTags[option.primaryIp] === 'keep' ? 'keep' : 'new',
    rootVolume: instanceTags[option.rootVolume] === 'snapshot' ? 'snapshot' : 'new',
  };
}

/** What moves: data volumes (not the root), secondary interfaces, secondary IPs, Elastic IPs of the primary interface. */
export function inventory(old: InstanceFacts, options: StatefulOptions): Handover {
  const resources: HandoverResource[] = [];
  const root = old.volumes.find((v) => v.deviceName === old.rootDeviceName);
  if (options.rootVolume === 'snapshot' && root) {
    resources.push({
      kind: 'root-volume',
      volumeId: root.volumeId,
      deviceName: root.deviceName,
      status: 'protected',
    });
  }
  if (options.volumes) {
    for (const volume of old.volumes) {
      if (volume.deviceName === old.rootDeviceName) continue;
      resources.push({
        kind: 'volume',
        volumeId: volume.volumeId,
        deviceName: volume.deviceName,
        availabilityZone: old.availabilityZone,
        status: 'protected',
      });
    }
  }
  const primary = old.networkInterfaces.find((eni) => eni.deviceIndex === 0);
  if (options.networkInterfaces) {
    for (const eni of old.networkInterfaces) {
      if (eni.deviceIndex === 0) continue;
      resources.push({
        kind: 'network-interface',
        networkInterfaceId: eni.networkInterfaceId,
        deviceIndex: eni.deviceIndex,
        subnetId: eni.subnetId,
        status: 'protected',
      });
    }
  }
  if (primary && options.privateIps) {
    for (const ip of primary.privateIps) {
      if (ip.primary) continue;
      resources.push({
        kind: 'private-ip',
        privateIpAddress: ip.privateIpAddress,
        subnetId: primary.subnetId,
        status: 'protected',
      });
    }
  }
  if (primary && options.elasticIps) {
    for (const ip of primary.privateIps) {
      if (!ip.elasticIp) continue;
      resources.push({
        kind: 'elastic-ip',
        allocationId: ip.elasticIp.allocationId,
        publicIp: ip.elasticIp.publicIp,
        privateIpAddress: ip.privateIpAddress,
        status: 'protected',
      });
    }
  }
  return { options, availabilityZone: old.availabilityZone, resources };
}

/** Ids of the resources, for tagging. */
export function resourceIds(handover: Handover): string[] {
  return handover.resources.flatMap((r) => {
    if (r.kind === 'volume') return [r.volumeId, ...(r.restoredVolumeId ? [r.restoredVolumeId] : [])];
    if (r.kind === 'root-volume') return [r.volumeId];
    if (r.kind === 'network-interface') return [r.networkInterfaceId];
    if (r.kind === 'elastic-ip') return [r.allocationId];
    return [];
  });
}

/** The root volume record, when the root volume's data is carried by snapshot. */
export const rootVolumeOf = (workflow: Workflow) =>
  workflow.handover?.resources.find((r): r is RootVolumeRecord => r.kind === 'root-volume');

/** A root-volume snapshot, if asked for, must be complete before the launch. */
export function rootSnapshotReady(workflow: Workflow): boolean {
  const root = rootVolumeOf(workflow);
  return root === undefined || root.snapshotState === 'completed';
}

/**
 * What must survive a termination but would not: the moving volumes (by device) and interfaces (by
 * attachment) still set to be deleted with the instance.
 */
export function unprotected(
  instance: InstanceFacts,
  handover: Handover,
): { deviceNames: string[]; attachmentIds: string[] } {
  const moving = new Set(resourceIds(handover));
  return {
    deviceNames: instance.volumes
      .filter((v) => moving.has(v.volumeId) && v.deleteOnTermination)
      .map((v) => v.deviceName),
    attachmentIds: instance.networkInterfaces
      .filter((eni) => moving.has(eni.networkInterfaceId) && eni.deleteOnTermination)
      .map((eni) => eni.attachmentId),
  };
}

/** The subnet a stateful replacement launches in: the old one, or the migration's. */
export function launchSubnet(workflow: Workflow): string | undefined {
  return workflow.handover?.migration?.subnetId ?? workflow.instance?.subnetId;
}

/** Another AZ of the VPC to migrate to, in a stable order, skipping the home AZ. */
export function migrationTarget(
  workflow: Workflow,
  subnets: readonly SubnetFacts[],
): SubnetFacts | undefined {
  const home = workflow.handover?.availabilityZone;
  const tried = workflow.handover?.migration?.availabilityZone;
  return [...subnets]
    .filter((s) => s.availabilityZone !== home && s.availabilityZone !== tried)
    .sort(
      (a, b) => a.availabilityZone.localeCompare(b.availabilityZone) || a.subnetId.localeCompare(b.subnetId),
    )[0];
}

/** Starts a migration: the replacement launches in `target`; what is bound to the home AZ is handled at handover. */
export function migrate(workflow: Workflow, target: SubnetFacts, reason: string): void {
  workflow.handover!.migration = {
    subnetId: target.subnetId,
    availabilityZone: target.availabilityZone,
    reason,
  };
}

/**
 * A resource is accounted for once it is on the replacement, left available with a reason, or
 * gone (with the reason recorded): nothing more will happen to it.
 */
export const accountedFor = (r: HandoverResource): boolean =>
  r.status === 'attached' || r.status === 'left-available' || r.status === 'gone';

/** Is every resource accounted for? */
export const everyResourceAccountedFor = (handover: Handover): boolean =>
  handover.resources.every(accountedFor);

/** The root volume's snapshot to launch from, when its data is carried. */
export function rootSnapshotOf(workflow: Workflow): { deviceName: string; snapshotId: string } | undefined {
  const root = rootVolumeOf(workflow);
  return root?.snapshotId ? { deviceName: root.deviceName, snapshotId: root.snapshotId } : undefined;
}

/** A resource as a person would look for it (with where it went, once it has). */
export function resourceLabel(r: HandoverResource): string {
  switch (r.kind) {
    case 'volume':
      return r.restoredVolumeId ? `${r.volumeId} → ${r.restoredVolumeId}` : r.volumeId;
    case 'root-volume':
      return r.snapshotId ? `${r.volumeId} → ${r.snapshotId}` : r.volumeId;
    case 'network-interface':
      return r.networkInterfaceId;
    case 'private-ip':
      return r.privateIpAddress;
    case 'elastic-ip':
      return `${r.publicIp} (${r.allocationId})`;
  }
}
