import type { InstanceFacts } from './facts.ts';
import { replacementTags } from './plan.ts';
import type { HandoffDeps } from './ports.ts';
import type { OrphanRecord, Workflow } from './workflow.ts';

/** An unlinked fleet instance younger than this may still be claimed by its own workflow's retry. */
export const ORPHAN_AFTER_MS = 5 * 60_000;

/**
 * Instances a group's fleet launched that no workflow links, older than {@link ORPHAN_AFTER_MS}:
 * each is adopted by an open workflow of its group still waiting for a replacement (and no fleet
 * of its own), or terminated. Either way an `orphan#<instanceId>` record says what and why.
 */
export async function sweepOrphans(deps: HandoffDeps, open: readonly Workflow[]): Promise<OrphanRecord[]> {
  const { tags, groupTagKey, retentionDays } = deps.settings;
  const now = deps.clock.now();
  const managed = await deps.compute.instancesTagged({ [tags.managed]: 'true' });
  const candidates = managed.filter(
    (i) =>
      i.tags[tags.fleetToken] !== undefined &&
      i.tags[tags.workflow] === undefined &&
      now.getTime() - Date.parse(i.launchTime ?? now.toISOString()) >= ORPHAN_AFTER_MS,
  );
  const waiting = open.filter((w) => w.group && !w.replacement?.instanceId && !w.replacement?.fleet);
  const records: OrphanRecord[] = [];
  for (const instance of candidates) {
    if (await deps.store.workflowOfReplacement(instance.instanceId)) continue;
    const group = groupTagKey ? instance.tags[groupTagKey] : undefined;
    const base = {
      instanceId: instance.instanceId,
      fleetToken: instance.tags[tags.fleetToken]!,
      ...(group ? { group } : {}),
      at: now.toISOString(),
      expiresAt: Math.floor(now.getTime() / 1000) + retentionDays * 86_400,
    };
    const index = waiting.findIndex((w) => w.group === group);
    const adopter = index >= 0 ? waiting.splice(index, 1)[0]! : undefined;
    const record: OrphanRecord =
      adopter && (await adopt(adopter, instance, deps))
        ? {
            ...base,
            action: 'adopted',
            workflowId: adopter.workflowId,
            reason: `launched by fleet ${base.fleetToken} but never recorded; adopted by ${adopter.workflowId}, which was waiting for a replacement`,
          }
        : await terminate(instance, base, deps);
    await deps.store.recordOrphan(record);
    deps.log.with({ instanceId: instance.instanceId }).warn(`Orphan ${record.action}: ${record.reason}`);
    records.push(record);
  }
  return records;
}

async function adopt(workflow: Workflow, instance: InstanceFacts, deps: HandoffDeps): Promise<boolean> {
  const { retentionDays, tags } = deps.settings;
  const replacement = workflow.replacement ?? { attempt: 1, clientToken: `${workflow.workflowId}-1` };
  const pool = {
    instanceType: instance.instanceType,
    availabilityZone: instance.availabilityZone,
    subnetId: instance.subnetId ?? '',
  };
  const market = instance.lifecycle === 'spot' ? 'spot' : 'on-demand';
  const adopted: Workflow = {
    ...workflow,
    version: workflow.version + 1,
    updatedAt: deps.clock.now().toISOString(),
    replacement: {
      ...replacement,
      instanceId: instance.instanceId,
      state: instance.state,
      subnetId: instance.subnetId,
      pool,
      capacityType: market,
      choiceReason: `adopted an orphan of fleet ${instance.tags[tags.fleetToken]} (${market} ${pool.instanceType} in ${pool.availabilityZone})`,
    },
  };
  delete adopted.replacement!.lastError;
  if (!(await deps.store.update(adopted))) return false;
  const expiresAt = Math.floor(deps.clock.now().getTime() / 1000) + retentionDays * 86_400;
  await deps.store.linkReplacement(instance.instanceId, workflow.workflowId, expiresAt);
  await deps.stateful.tag([instance.instanceId], replacementTags(adopted, tags));
  Object.assign(workflow, adopted);
  return true;
}

async function terminate(
  instance: InstanceFacts,
  base: Omit<OrphanRecord, 'action' | 'reason'>,
  deps: HandoffDeps,
): Promise<OrphanRecord> {
  await deps.compute.terminate([instance.instanceId]);
  return {
    ...base,
    action: 'terminated',
    reason: `launched by fleet ${base.fleetToken} but never recorded, and no open workflow${base.group ? ` of group ${base.group}` : ''} was waiting for a replacement; terminated`,
  };
}
