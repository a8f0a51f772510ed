import { MergeWindow } from './concurrency.ts';
import type { InstanceFacts } from './facts.ts';
import type { Compute, FleetRequest, LaunchRequest } from './ports.ts';

/**
 * EC2 as a batch of workflows sees it: a sweep page re-examines 25 workflows side by side, and each
 * reads its replacement. The instances they ask about within `windowMs` of the first ask are
 * described in one request (the adapter splits it where EC2's limits require), and each asker gets
 * its own; a sweep after a pool's reclaim then costs one `DescribeInstances` per page, not one per
 * workflow. A failed read fails every workflow that shared it, as each would have failed alone
 * (the sweep tries them again a minute later; a queued batch's items are delivered again). Every
 * other call goes through as it is.
 */
export class BatchedCompute implements Compute {
  private readonly describes: MergeWindow<string, Map<string, InstanceFacts>>;

  constructor(
    private readonly inner: Compute,
    windowMs = 20,
  ) {
    this.describes = new MergeWindow((ids) => inner.describeInstances([...new Set(ids)]), windowMs);
  }

  async describeInstances(
    instanceIds: readonly string[],
    options?: { described?: (facts: Map<string, InstanceFacts>) => void },
  ): Promise<Map<string, InstanceFacts>> {
    // A caller that wants the facts before the Elastic IPs are looked up is not kept waiting.
    if (options?.described || instanceIds.length === 0)
      return this.inner.describeInstances(instanceIds, options);
    const { result: described } = await this.describes.add(instanceIds);
    return new Map(
      instanceIds.flatMap((id) => {
        const facts = described.get(id);
        return facts ? [[id, facts] as const] : [];
      }),
    );
  }

  instancesTagged(tags: Record<string, string>) {
    return this.inner.instancesTagged(tags);
  }

  launch(request: LaunchRequest) {
    return this.inner.launch(request);
  }

  launchFleet(request: FleetRequest) {
    return this.inner.launchFleet(request);
  }

  terminate(instanceId: string, managedTag: { key: string; value: string }) {
    return this.inner.terminate(instanceId, managedTag);
  }
}
