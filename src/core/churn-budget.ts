import type { InstanceOutcome } from './batch.ts';
import { startCarefulReplaces } from './careful.ts';
import { policyOf } from './group-policy.ts';
import { withinBudget } from './plan.ts';
import type { HandoffDeps } from './ports.ts';
import type { CarefulKind } from './workflow.ts';

/** An instance the sweep wants to replace carefully, and why. */
export interface CarefulCandidate {
  instanceId: string;
  group?: string;
  reason: string;
}

/**
 * Starts careful replaces of `kind` for the candidates, no more per group than its churn budget
 * allows: the group's careful replaces already open count against it. Candidates over budget are
 * left for a later sweep (counted, with the group named in the log).
 */
export async function startWithinChurnBudget(
  candidates: readonly CarefulCandidate[],
  kind: CarefulKind,
  deps: HandoffDeps,
): Promise<InstanceOutcome[]> {
  if (candidates.length === 0) return [];
  const { tags } = deps.settings;
  const open = await deps.store.list({ status: 'in-progress' });
  const chosen: CarefulCandidate[] = [];
  for (const group of new Set(candidates.map((c) => c.group))) {
    const members = await deps.compute.instancesTagged({
      [tags.managed]: 'true',
      ...(group !== undefined ? { [tags.group]: group } : {}),
    });
    const inGroup = new Set(
      members.filter((m) => group !== undefined || !m.tags[tags.group]).map((m) => m.instanceId),
    );
    let busy = open.filter((w) => (w.kind ?? 'interruption') !== 'interruption' && w.group === group).length;
    const { churnBudgetPercent } = policyOf(deps.settings.policies, group);
    const waiting: string[] = [];
    for (const candidate of candidates.filter((c) => c.group === group)) {
      if (withinBudget(busy, inGroup.size, churnBudgetPercent)) {
        chosen.push(candidate);
        busy += 1;
      } else waiting.push(candidate.instanceId);
    }
    if (waiting.length > 0) {
      deps.metrics.count('ChurnBudgetExceeded', waiting.length);
      deps.log.info(
        `Churn budget of group ${group ?? '(none)'} spent (${churnBudgetPercent}% of ${inGroup.size}): ${kind} of ${waiting.length} instances waits for a later sweep.`,
        { waiting },
      );
    }
  }
  return startCarefulReplaces(
    chosen.map(({ instanceId, reason }) => ({ instanceId, kind, reason })),
    deps,
  );
}
