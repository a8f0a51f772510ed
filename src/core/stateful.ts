import { TAG_PREFIX, WORKFLOW_TAG } from '../config.ts';
import type { InstanceFacts, InstanceState, StatefulResources, SubnetFacts } from './ports.ts';
import type {
  Handover,
  HandoverResource,
  InterfaceRecord,
  RootVolumeRecord,
  StatefulOptions,
  VolumeRecord,
  Workflow,
} from './workflow.ts';

/**
 * The stateful handoff: the old instance's EBS data volumes, secondary network interfaces,
 * secondary private IPs and Elastic IPs move to the replacement. Nothing is ever lost: every
 * resource ends attached to exactly one instance, or available, tagged with its workflow, with the
 * reason recorded.
 */

export const READY_TAG = `${TAG_PREFIX}state`;
export const LEFT_TAG = `${TAG_PREFIX}left-available`;

/** Per-instance options, from tags (documented in the README). */
export const OPTION_TAGS = {
  volumes: `${TAG_PREFIX}volumes`,
  networkInterfaces: `${TAG_PREFIX}network-interfaces`,
  privateIps: `${TAG_PREFIX}private-ips`,
  elasticIps: `${TAG_PREFIX}elastic-ips`,
  primaryIp: `${TAG_PREFIX}primary-ip`,
  rootVolume: `${TAG_PREFIX}root-volume`,
} as const;

/** The options of an instance that asks for the stateful handoff, or undefined. */
export function statefulOptions(
  tags: Record<string, string>,
  statefulTagKey: string,
): StatefulOptions | undefined {
  if (tags[statefulTagKey] !== 'true') return undefined;
  const off = (key: string) => tags[key] === 'none' || tags[key] === 'false';
  return {
    volumes: !off(OPTION_TAGS.volumes),
    networkInterfaces: !off(OPTION_TAGS.networkInterfaces),
    privateIps: !off(OPTION_TAGS.privateIps),
    elasticIps: !off(OPTION_TAGS.elasticIps),
    primaryIp: tags[OPTION_TAGS.primaryIp] === 'keep' ? 'keep' : 'new',
    rootVolume: tags[OPTION_TAGS.rootVolume] === 'snapshot' ? 'snapshot' : 'new',
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

/**
 * Step "protect", before anything else can fail: volumes and interfaces that move survive the old
 * instance's termination, and carry their workflow's tag.
 */
export async function protect(
  workflow: Workflow,
  old: InstanceFacts,
  stateful: StatefulResources,
): Promise<string> {
  const handover = workflow.handover!;
  await stateful.keepOnTermination(old.instanceId, unprotected(old, handover));
  await stateful.tag(resourceIds(handover), { [WORKFLOW_TAG]: workflow.workflowId });
  const count = (kind: HandoverResource['kind']) => handover.resources.filter((r) => r.kind === kind).length;
  const root = count('root-volume') > 0 ? ', the root volume (by snapshot)' : '';
  return `${count('volume')} volumes${root}, ${count('network-interface')} interfaces, ${count('private-ip')} private IPs, ${count('elastic-ip')} Elastic IPs kept on termination`;
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
 * Step "snapshot root": once the old instance has stopped writing (stopped, terminated), snapshots
 * its root volume (found again by its workflow tag on a retry) and records how far it got.
 */
export async function snapshotRoot(
  workflow: Workflow,
  stateful: StatefulResources,
  managedTagKey: string,
): Promise<string | undefined> {
  const root = rootVolumeOf(workflow);
  if (!root || root.snapshotState === 'completed') return undefined;
  const snapshot = root.snapshotId
    ? (await stateful.describeSnapshots([root.snapshotId])).get(root.snapshotId)
    : await stateful.snapshotFor(root.volumeId, {
        [managedTagKey]: 'true',
        [WORKFLOW_TAG]: workflow.workflowId,
        [`${TAG_PREFIX}source-volume`]: root.volumeId,
      });
  if (!snapshot) return undefined;
  const first = root.snapshotId === undefined;
  root.snapshotId = snapshot.snapshotId;
  root.snapshotState = snapshot.state;
  if (first || snapshot.state === 'completed')
    return `root volume ${root.volumeId} → ${snapshot.snapshotId} (${snapshot.state})`;
  return undefined;
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

/** States in which the old instance has let go of its volumes, interfaces and IPs. */
export const RELEASED_STATES: ReadonlySet<string> = new Set(['stopped', 'terminated', 'gone']);

export interface HandoverContext {
  workflow: Workflow;
  /** Snapshots and volumes we create carry it (IAM allows creating only such). */
  managedTagKey: string;
  replacement: InstanceFacts;
  oldState: InstanceState | 'gone';
  stateful: StatefulResources;
  now: () => Date;
}

/**
 * One pass of the handover: moves every resource whose both sides are ready, verifies the moves
 * requested before, and reports what happened. Safe to repeat: each action is idempotent and
 * decided from what EC2 says now.
 */
export async function handOverPass(ctx: HandoverContext): Promise<string[]> {
  const { workflow, replacement, oldState, stateful } = ctx;
  const handover = workflow.handover!;
  const released = RELEASED_STATES.has(oldState);
  const done: string[] = [];
  const settle = (r: HandoverResource, what: string) => {
    if (r.status !== 'attached') done.push(what);
    r.status = 'attached';
    r.movedAt ??= ctx.now().toISOString();
    delete r.reason;
  };
  const lost = (r: HandoverResource, id: string) => {
    if (r.status === 'gone') return;
    r.status = 'gone';
    r.reason = 'deleted by EC2 with the old instance before it could be protected';
    done.push(`${id} gone: ${r.reason}`);
  };
  const leave = async (r: HandoverResource, id: string | undefined, reason: string) => {
    if (r.status === 'left-available') return;
    r.status = 'left-available';
    r.reason = reason;
    if (id)
      await stateful.tag([id], { [WORKFLOW_TAG]: workflow.workflowId, [LEFT_TAG]: reason.slice(0, 250) });
    done.push(`${id ?? resourceLabel(r)} left available: ${reason}`);
  };
  const sameAz = replacement.availabilityZone === handover.availabilityZone;
  const primary = replacement.networkInterfaces.find((eni) => eni.deviceIndex === 0);
  const replacementIps = new Set(
    replacement.networkInterfaces.flatMap((e) => e.privateIps.map((p) => p.privateIpAddress)),
  );

  // The root volume's data came with the launch: the old root volume stays, available, tagged.
  for (const root of handover.resources.filter((r): r is RootVolumeRecord => r.kind === 'root-volume')) {
    if (root.status === 'attached' || !root.snapshotId || root.snapshotState !== 'completed') continue;
    await stateful.tag([root.volumeId], {
      [WORKFLOW_TAG]: workflow.workflowId,
      [LEFT_TAG]: `root data carried by ${root.snapshotId} into ${replacement.instanceId}`,
    });
    settle(root, `root volume from ${root.snapshotId}`);
  }

  // Volumes: attach where available; migrate by snapshot when the replacement is in another AZ.
  const volumes = handover.resources.filter((r): r is VolumeRecord => r.kind === 'volume');
  const volumeFacts = await stateful.describeVolumes(
    volumes.flatMap((v) => [v.volumeId, ...(v.restoredVolumeId ? [v.restoredVolumeId] : [])]),
  );
  for (const volume of volumes) {
    if (resourceSettled(volume)) continue;
    let targetId = volume.volumeId;
    if (!sameAz) {
      if (!released) continue;
      if (!volume.snapshotId && !volumeFacts.has(volume.volumeId)) {
        lost(volume, volume.volumeId);
        continue;
      }
      if (!volume.restoredVolumeId) {
        const snapshot = await stateful.snapshotFor(volume.volumeId, {
          [ctx.managedTagKey]: 'true',
          [WORKFLOW_TAG]: workflow.workflowId,
          [`${TAG_PREFIX}source-volume`]: volume.volumeId,
        });
        volume.snapshotId = snapshot.snapshotId;
        if (snapshot.state !== 'completed') continue;
        const restored = await stateful.restoreVolume({
          snapshotId: snapshot.snapshotId,
          availabilityZone: replacement.availabilityZone,
          clientToken: `${workflow.workflowId}-${volume.volumeId}`.slice(0, 64),
          tags: {
            [ctx.managedTagKey]: 'true',
            [WORKFLOW_TAG]: workflow.workflowId,
            [`${TAG_PREFIX}restored-from`]: volume.volumeId,
          },
        });
        volume.restoredVolumeId = restored.volumeId;
        volumeFacts.set(restored.volumeId, restored);
        await stateful.tag([volume.volumeId], {
          [WORKFLOW_TAG]: workflow.workflowId,
          [`${TAG_PREFIX}migrated-to`]: restored.volumeId,
        });
        done.push(`${volume.volumeId} restored as ${restored.volumeId} in ${replacement.availabilityZone}`);
      }
      targetId = volume.restoredVolumeId;
    }
    const facts = volumeFacts.get(targetId);
    if (!facts) {
      if (released && targetId === volume.volumeId) lost(volume, targetId);
      continue;
    }
    const attachment = facts.attachments[0];
    if (attachment?.instanceId === replacement.instanceId) {
      if (attachment.state === 'attached') settle(volume, `${targetId} attached at ${volume.deviceName}`);
      else volume.status = 'moving';
    } else if (facts.state === 'available') {
      await stateful.attachVolume(targetId, replacement.instanceId, volume.deviceName);
      volume.status = 'moving';
    } else if (attachment?.instanceId === workflow.instanceId && oldState === 'stopped') {
      await stateful.detachVolume(targetId, workflow.instanceId);
    }
  }

  // Secondary interfaces (and so their private IPs): bound to their subnet's AZ.
  const interfaces = handover.resources.filter((r): r is InterfaceRecord => r.kind === 'network-interface');
  const interfaceFacts = await stateful.describeInterfaces(interfaces.map((i) => i.networkInterfaceId));
  for (const eni of interfaces) {
    if (resourceSettled(eni)) continue;
    if (!sameAz) {
      if (released)
        await leave(
          eni,
          eni.networkInterfaceId,
          `bound to ${handover.availabilityZone}; the replacement runs in ${replacement.availabilityZone}`,
        );
      continue;
    }
    const facts = interfaceFacts.get(eni.networkInterfaceId);
    if (!facts) {
      if (released) lost(eni, eni.networkInterfaceId);
      continue;
    }
    if (facts.attachment?.instanceId === replacement.instanceId) {
      if (facts.attachment.status === 'attached')
        settle(eni, `${eni.networkInterfaceId} attached as device ${eni.deviceIndex}`);
      else eni.status = 'moving';
    } else if (facts.status === 'available') {
      await stateful.attachInterface(eni.networkInterfaceId, replacement.instanceId, eni.deviceIndex);
      eni.status = 'moving';
    } else if (facts.attachment?.instanceId === workflow.instanceId && oldState === 'stopped') {
      await stateful.detachInterface(facts.attachment.attachmentId);
    }
  }

  // Secondary private IPs of the primary interface: reassigned once the old instance let go.
  const ips = handover.resources.filter((r) => r.kind === 'private-ip');
  const toMove: string[] = [];
  for (const ip of ips) {
    if (resourceSettled(ip)) continue;
    if (primary?.subnetId !== ip.subnetId) {
      if (released)
        await leave(
          ip,
          undefined,
          `subnet ${ip.subnetId}; the replacement's primary interface is in ${primary?.subnetId}`,
        );
      continue;
    }
    if (replacementIps.has(ip.privateIpAddress)) settle(ip, `${ip.privateIpAddress} assigned`);
    else if (released) toMove.push(ip.privateIpAddress);
  }
  if (primary && toMove.length > 0) {
    await stateful.movePrivateIps(primary.networkInterfaceId, toMove);
    for (const ip of ips) if (toMove.includes(ip.privateIpAddress)) ip.status = 'moving';
  }

  // Elastic IPs: reassociated once the old instance has drained.
  for (const eip of handover.resources.filter((r) => r.kind === 'elastic-ip')) {
    if (resourceSettled(eip)) continue;
    const onReplacement = replacement.networkInterfaces.some((e) =>
      e.privateIps.some((p) => p.elasticIp?.allocationId === eip.allocationId),
    );
    if (onReplacement) {
      settle(eip, `${eip.publicIp} associated`);
      continue;
    }
    if (!workflow.drained) continue;
    const privateIp =
      eip.privateIpAddress === workflow.instance?.privateIpAddress
        ? replacement.privateIpAddress
        : eip.privateIpAddress;
    const onInterface = replacement.networkInterfaces.find((e) =>
      e.privateIps.some((p) => p.privateIpAddress === privateIp),
    );
    if (!privateIp || !onInterface) continue;
    await stateful.moveElasticIp(eip.allocationId, onInterface.networkInterfaceId, privateIp);
    eip.status = 'moving';
  }
  return done;
}

/** Has every resource settled (on the replacement, or left available with a reason)? */
/** A resource is settled once it is on the replacement, left available with a reason, or gone. */
export const resourceSettled = (r: HandoverResource): boolean =>
  r.status === 'attached' || r.status === 'left-available' || r.status === 'gone';

/** Has every resource settled? */
export const handoverSettled = (handover: Handover): boolean => handover.resources.every(resourceSettled);

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
