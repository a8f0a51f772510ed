import { hasReleasedResources, type InstanceFacts, type RecordedState } from '../facts.ts';
import type { HandoffTags, StatefulResources } from '../ports.ts';
import { accountedFor, resourceLabel } from '../stateful.ts';
import type {
  ElasticIpRecord,
  HandoverResource,
  InterfaceRecord,
  PrivateIpRecord,
  RootVolumeRecord,
  VolumeRecord,
  Workflow,
} from '../workflow.ts';
import { snapshotTags } from './protect.ts';

/**
 * The handover, one resource kind at a time: each moves what is ready on both sides, verifies the
 * moves requested before, and says what happened. Safe to repeat: every action is idempotent and
 * decided from what EC2 says now.
 */

export interface HandoverContext {
  workflow: Workflow;
  replacement: InstanceFacts;
  oldState: RecordedState;
  stateful: StatefulResources;
  tags: HandoffTags;
  now: () => Date;
}

/** One pass of the handover over every kind of resource; returns what happened, in words. */
export async function handOverPass(ctx: HandoverContext): Promise<string[]> {
  const move = new Move(ctx);
  await handOverRootVolume(move);
  await handOverVolumes(move);
  await handOverInterfaces(move);
  await handOverPrivateIps(move);
  await handOverElasticIps(move);
  return move.done;
}

/** What one pass knows and records: both sides, and how each resource ended. */
class Move {
  readonly done: string[] = [];
  readonly released: boolean;
  /** The replacement runs in the AZ the volumes and interfaces are bound to. */
  readonly sameAz: boolean;

  constructor(readonly ctx: HandoverContext) {
    this.released = hasReleasedResources(ctx.oldState);
    this.sameAz = ctx.replacement.availabilityZone === ctx.workflow.handover!.availabilityZone;
  }

  /** The resources of one kind still to move. */
  pending<K extends HandoverResource['kind']>(kind: K): Extract<HandoverResource, { kind: K }>[] {
    return this.ctx.workflow.handover!.resources.filter(
      (r): r is Extract<HandoverResource, { kind: K }> => r.kind === kind && !accountedFor(r),
    );
  }

  /** Verified on the replacement. */
  attached(r: HandoverResource, what: string): void {
    if (r.status !== 'attached') this.done.push(what);
    r.status = 'attached';
    r.movedAt ??= this.ctx.now().toISOString();
    delete r.reason;
  }

  /** EC2 deleted it with the old instance before it could be protected. */
  lost(r: HandoverResource, id: string): void {
    if (r.status === 'gone') return;
    r.status = 'gone';
    r.reason = 'deleted by EC2 with the old instance before it could be protected';
    this.done.push(`${id} gone: ${r.reason}`);
  }

  /** Kept where it is, available, tagged with its workflow and why. */
  async leave(r: HandoverResource, id: string | undefined, reason: string): Promise<void> {
    if (r.status === 'left-available') return;
    r.status = 'left-available';
    r.reason = reason;
    const { stateful, tags, workflow } = this.ctx;
    if (id)
      await stateful.tag([id], {
        [tags.workflow]: workflow.workflowId,
        [tags.leftAvailable]: reason.slice(0, 250),
      });
    this.done.push(`${id ?? resourceLabel(r)} left available: ${reason}`);
  }
}

/** The root volume's data came with the launch: the old root volume stays, available, tagged. */
async function handOverRootVolume(move: Move): Promise<void> {
  const { stateful, tags, workflow, replacement } = move.ctx;
  const roots = workflow.handover!.resources.filter((r): r is RootVolumeRecord => r.kind === 'root-volume');
  for (const root of roots) {
    if (root.status === 'attached' || !root.snapshotId || root.snapshotState !== 'completed') continue;
    await stateful.tag([root.volumeId], {
      [tags.workflow]: workflow.workflowId,
      [tags.leftAvailable]: `root data carried by ${root.snapshotId} into ${replacement.instanceId}`,
    });
    move.attached(root, `root volume from ${root.snapshotId}`);
  }
}

/** Data volumes: attached where available; in another AZ, restored there from a snapshot first. */
async function handOverVolumes(move: Move): Promise<void> {
  const { stateful, workflow, replacement, oldState } = move.ctx;
  const volumes = workflow.handover!.resources.filter((r): r is VolumeRecord => r.kind === 'volume');
  const facts = await stateful.describeVolumes(
    volumes.flatMap((v) => [v.volumeId, ...(v.restoredVolumeId ? [v.restoredVolumeId] : [])]),
  );
  for (const volume of move.pending('volume')) {
    let targetId = volume.volumeId;
    if (!move.sameAz) {
      if (!move.released) continue;
      if (!volume.snapshotId && !facts.has(volume.volumeId)) {
        move.lost(volume, volume.volumeId);
        continue;
      }
      if (!volume.restoredVolumeId) {
        const restored = await restoreInReplacementAz(move, volume);
        if (!restored) continue;
        facts.set(restored.volumeId, restored);
      }
      targetId = volume.restoredVolumeId!;
    }
    const target = facts.get(targetId);
    if (!target) {
      if (move.released && targetId === volume.volumeId) move.lost(volume, targetId);
      continue;
    }
    const attachment = target.attachments[0];
    if (attachment?.instanceId === replacement.instanceId) {
      if (attachment.state === 'attached')
        move.attached(volume, `${targetId} attached at ${volume.deviceName}`);
      else volume.status = 'moving';
    } else if (target.state === 'available') {
      await stateful.attachVolume(targetId, replacement.instanceId, volume.deviceName);
      volume.status = 'moving';
    } else if (attachment?.instanceId === workflow.instanceId && oldState === 'stopped') {
      await stateful.detachVolume(targetId, workflow.instanceId);
    }
  }
}

/** A volume's copy in the replacement's AZ, once its snapshot is complete (undefined until then). */
async function restoreInReplacementAz(move: Move, volume: VolumeRecord) {
  const { stateful, tags, workflow, replacement } = move.ctx;
  const snapshot = await stateful.snapshotFor(volume.volumeId, snapshotTags(workflow, volume.volumeId, tags));
  volume.snapshotId = snapshot.snapshotId;
  if (snapshot.state !== 'completed') return undefined;
  const restored = await stateful.restoreVolume({
    snapshotId: snapshot.snapshotId,
    availabilityZone: replacement.availabilityZone,
    clientToken: `${workflow.workflowId}-${volume.volumeId}`.slice(0, 64),
    tags: {
      [tags.managed]: 'true',
      [tags.workflow]: workflow.workflowId,
      [tags.restoredFrom]: volume.volumeId,
    },
  });
  volume.restoredVolumeId = restored.volumeId;
  await stateful.tag([volume.volumeId], {
    [tags.workflow]: workflow.workflowId,
    [tags.migratedTo]: restored.volumeId,
  });
  move.done.push(`${volume.volumeId} restored as ${restored.volumeId} in ${replacement.availabilityZone}`);
  return restored;
}

/** Secondary interfaces (and so their private IPs): bound to their subnet's AZ. */
async function handOverInterfaces(move: Move): Promise<void> {
  const { stateful, workflow, replacement, oldState } = move.ctx;
  const handover = workflow.handover!;
  const interfaces = handover.resources.filter((r): r is InterfaceRecord => r.kind === 'network-interface');
  const facts = await stateful.describeInterfaces(interfaces.map((i) => i.networkInterfaceId));
  for (const eni of move.pending('network-interface')) {
    if (!move.sameAz) {
      if (move.released)
        await move.leave(
          eni,
          eni.networkInterfaceId,
          `bound to ${handover.availabilityZone}; the replacement runs in ${replacement.availabilityZone}`,
        );
      continue;
    }
    const now = facts.get(eni.networkInterfaceId);
    if (!now) {
      if (move.released) move.lost(eni, eni.networkInterfaceId);
      continue;
    }
    if (now.attachment?.instanceId === replacement.instanceId) {
      if (now.attachment.status === 'attached')
        move.attached(eni, `${eni.networkInterfaceId} attached as device ${eni.deviceIndex}`);
      else eni.status = 'moving';
    } else if (now.status === 'available') {
      await stateful.attachInterface(eni.networkInterfaceId, replacement.instanceId, eni.deviceIndex);
      eni.status = 'moving';
    } else if (now.attachment?.instanceId === workflow.instanceId && oldState === 'stopped') {
      await stateful.detachInterface(now.attachment.attachmentId);
    }
  }
}

/** Secondary private IPs of the primary interface: reassigned once the old instance let go. */
async function handOverPrivateIps(move: Move): Promise<void> {
  const { stateful, replacement } = move.ctx;
  const primary = replacement.networkInterfaces.find((eni) => eni.deviceIndex === 0);
  const held = new Set(
    replacement.networkInterfaces.flatMap((e) => e.privateIps.map((p) => p.privateIpAddress)),
  );
  const toMove: PrivateIpRecord[] = [];
  for (const ip of move.pending('private-ip')) {
    if (primary?.subnetId !== ip.subnetId) {
      if (move.released)
        await move.leave(
          ip,
          undefined,
          `subnet ${ip.subnetId}; the replacement's primary interface is in ${primary?.subnetId}`,
        );
      continue;
    }
    if (held.has(ip.privateIpAddress)) move.attached(ip, `${ip.privateIpAddress} assigned`);
    else if (move.released) toMove.push(ip);
  }
  if (primary && toMove.length > 0) {
    await stateful.movePrivateIps(
      primary.networkInterfaceId,
      toMove.map((ip) => ip.privateIpAddress),
    );
    for (const ip of toMove) ip.status = 'moving';
  }
}

/** Elastic IPs: reassociated once the old instance has drained. */
async function handOverElasticIps(move: Move): Promise<void> {
  const { stateful, workflow, replacement } = move.ctx;
  for (const eip of move.pending('elastic-ip')) {
    const onReplacement = replacement.networkInterfaces.some((e) =>
      e.privateIps.some((p) => p.elasticIp?.allocationId === eip.allocationId),
    );
    if (onReplacement) {
      move.attached(eip, `${eip.publicIp} associated`);
      continue;
    }
    if (!workflow.drained) continue;
    const privateIp = elasticIpTarget(eip, workflow, replacement);
    const onInterface = replacement.networkInterfaces.find((e) =>
      e.privateIps.some((p) => p.privateIpAddress === privateIp),
    );
    if (!privateIp || !onInterface) continue;
    await stateful.moveElasticIp(eip.allocationId, onInterface.networkInterfaceId, privateIp);
    eip.status = 'moving';
  }
}

/** The replacement's private IP an Elastic IP goes to: the new primary in place of the old one. */
const elasticIpTarget = (eip: ElasticIpRecord, workflow: Workflow, replacement: InstanceFacts) =>
  eip.privateIpAddress === workflow.instance?.privateIpAddress
    ? replacement.privateIpAddress
    : eip.privateIpAddress;
