import type { HandoffDeps } from './ports.ts';
import { inventory, statefulOptions, unprotected } from './stateful.ts';

/**
 * Protect first, before any event: every live managed instance that asked for the stateful handoff
 * has the volumes and interfaces that would move set to survive termination, now. If EC2's warning
 * is lost and the instance is gone before any event reaches us, its data is still there.
 * Idempotent; only instances that need it are changed. Returns how many were.
 */
export async function guardStatefulInstances(deps: HandoffDeps): Promise<number> {
  const { tags } = deps.settings;
  const instances = await deps.compute.instancesTagged({ [tags.managed]: 'true', [tags.stateful]: 'true' });
  let guarded = 0;
  for (const instance of instances) {
    const options = statefulOptions(instance.tags, tags);
    if (!options) continue;
    const needed = unprotected(instance, inventory(instance, options));
    if (needed.deviceNames.length === 0 && needed.attachmentIds.length === 0) continue;
    const log = deps.log.with({ instanceId: instance.instanceId });
    try {
      await deps.stateful.keepOnTermination(instance.instanceId, needed);
      guarded += 1;
      log.info('Guarded: kept on termination ahead of any interruption.', { ...needed });
    } catch (error) {
      // One instance's failure must not stop the others; the next sweep tries again.
      log.warn(`Could not guard the instance: ${(error as Error).name}: ${(error as Error).message}`);
    }
  }
  deps.metrics.count('InstancesGuarded', guarded);
  return guarded;
}
