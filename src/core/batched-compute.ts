import type { InstanceFacts } from './facts.ts';
import type { Compute, FleetRequest, LaunchRequest } from './ports.ts';

/**
 * EC2 as a batch of workflows sees it: a sweep page re-examines 25 workflows side by side, and each
 * reads its replacement. The instances they ask about within `windowMs` of the first ask are
 * described in one request (the adapter splits it where EC2's limits require), and each asker gets
 * its own; a sweep after a pool's reclaim then costs one `DescribeInstances` per page, not one per
 * workflow. Every other call goes through as it is.
 */
export class BatchedCompute implements Compute {
  private pending: { ids: Set<string>; done: Promise<Map<string, InstanceFacts>> } | undefined;

  constructor(
    private readonly inner: Compute,
    private readonly windowMs = 20,
  ) {}

  async describeInstances(
    instanceIds: readonly string[],
    options?: { described?: (facts: Map<string, InstanceFacts>) => void },
  ): Promise<Map<string, InstanceFacts>> {
    // A caller that wants the facts before the Elastic IPs are looked up is not kept waiting.
    if (options?.described || instanceIds.length === 0)
      return this.inner.describeInstances(instanceIds, options);
    if (!this.pending) {
      const batch = { ids: new Set<string>(), done: Promise.resolve(new Map<string, InstanceFacts>()) };
      batch.done = new Promise<void>((resolve) => setTimeout(resolve, this.windowMs)).then(() => {
        if (this.pending === batch) this.pending = undefined;
        return this.inner.describeInstances([...batch.ids]);
      });
      this.pending = batch;
    }
    const batch = this.pending;
    for (const id of instanceIds) batch.ids.add(id);
    const described = await batch.done;
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
