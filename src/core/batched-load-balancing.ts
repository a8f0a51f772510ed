import { MergeWindow } from './concurrency.ts';
import type { ElbCallCount, InstanceFacts, Target } from './facts.ts';
import type { LoadBalancing } from './ports.ts';

/**
 * The load balancer as a batch of workflows sees it: when EC2 reclaims a pool, hundreds of warnings
 * arrive together, and every one of their instances serves in the same few target groups. Calls
 * made by the batch's workflows within a short window are merged, so a batch costs one call per
 * target group, not one per instance:
 * - `findTargets` for the batch's instances is made once, for all of them;
 * - `deregister` and `register` requests made within `windowMs` of each other go out together.
 * Each caller is told the calls of the merged request and how many workflows shared it.
 */
export class BatchedLoadBalancing implements LoadBalancing {
  private found:
    | Promise<{ byInstance: Map<string, Target[]>; targetGroups?: string[] } & ElbCallCount>
    | undefined;
  private readonly queues: {
    deregister: MergeWindow<Target, ElbCallCount>;
    register: MergeWindow<Target, ElbCallCount>;
  };

  constructor(
    private readonly inner: LoadBalancing,
    /** Every old instance of the batch: one discovery serves them all. */
    private readonly batch: readonly InstanceFacts[],
    windowMs = 50,
  ) {
    this.queues = {
      deregister: new MergeWindow((targets) => inner.deregister(targets), windowMs),
      register: new MergeWindow((targets) => inner.register(targets), windowMs),
    };
  }

  async findTargets(instances: readonly InstanceFacts[]) {
    const covered = instances.every((i) => this.batch.some((b) => b.instanceId === i.instanceId));
    if (!covered) return this.inner.findTargets(instances);
    this.found ??= this.inner.findTargets(this.batch);
    const { byInstance, calls, targetGroups } = await this.found;
    const mine = new Map(instances.map((i) => [i.instanceId, byInstance.get(i.instanceId) ?? []]));
    return {
      byInstance: mine,
      calls,
      sharedBy: this.batch.length,
      ...(targetGroups ? { targetGroups } : {}),
    };
  }

  deregister(targets: readonly Target[]) {
    return merged(this.queues.deregister, targets);
  }

  register(targets: readonly Target[]) {
    return merged(this.queues.register, targets);
  }

  /** Health reads are not merged: each careful replace reads its own few targets. */
  targetHealth(targets: readonly Target[]) {
    return this.inner.targetHealth(targets);
  }

  targetGroupHealth(suffix: string) {
    return this.inner.targetGroupHealth(suffix);
  }
}

/** The calls of the merged request, and how many workflows shared it. */
async function merged(
  window: MergeWindow<Target, ElbCallCount>,
  targets: readonly Target[],
): Promise<ElbCallCount> {
  const { result, sharedBy } = await window.add(targets);
  return { calls: result.calls, sharedBy };
}
