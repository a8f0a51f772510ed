import type { InstanceFacts } from '../facts.ts';
import type { HandoffTags, StatefulResources } from '../ports.ts';
import { resourceIds, rootVolumeOf, unprotected } from '../stateful.ts';
import type { HandoverResource, Workflow } from '../workflow.ts';

/**
 * Step "protect", before anything else can fail: volumes and interfaces that move survive the old
 * instance's termination, and carry their workflow's tag. Returns what was kept, in words.
 */
export async function protect(
  workflow: Workflow,
  old: InstanceFacts,
  stateful: StatefulResources,
  tags: HandoffTags,
): Promise<string> {
  const handover = workflow.handover!;
  await stateful.keepOnTermination(old.instanceId, unprotected(old, handover));
  await stateful.tag(resourceIds(handover), { [tags.workflow]: workflow.workflowId });
  const count = (kind: HandoverResource['kind']) => handover.resources.filter((r) => r.kind === kind).length;
  const root = count('root-volume') > 0 ? ', the root volume (by snapshot)' : '';
  return `${count('volume')} volumes${root}, ${count('network-interface')} interfaces, ${count('private-ip')} private IPs, ${count('elastic-ip')} Elastic IPs kept on termination`;
}

/**
 * Step "root snapshot": once the old instance has stopped writing (stopped, terminated), snapshots
 * its root volume (found again by its workflow tag on a retry) and records how far it got. Returns
 * what changed, in words, or undefined when nothing worth a step did.
 */
export async function snapshotRoot(
  workflow: Workflow,
  stateful: StatefulResources,
  tags: HandoffTags,
): Promise<string | undefined> {
  const root = rootVolumeOf(workflow);
  if (!root || root.snapshotState === 'completed') return undefined;
  const snapshot = root.snapshotId
    ? (await stateful.describeSnapshots([root.snapshotId])).get(root.snapshotId)
    : await stateful.snapshotFor(root.volumeId, snapshotTags(workflow, root.volumeId, tags));
  if (!snapshot) return undefined;
  const first = root.snapshotId === undefined;
  root.snapshotId = snapshot.snapshotId;
  root.snapshotState = snapshot.state;
  if (first || snapshot.state === 'completed')
    return `root volume ${root.volumeId} → ${snapshot.snapshotId} (${snapshot.state})`;
  return undefined;
}

/** Tags of a snapshot the workflow takes of a volume (IAM allows creating only managed ones). */
export const snapshotTags = (workflow: Workflow, volumeId: string, tags: HandoffTags) => ({
  [tags.managed]: 'true',
  [tags.workflow]: workflow.workflowId,
  [tags.sourceVolume]: volumeId,
});
