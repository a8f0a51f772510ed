import type { GroupPolicy } from './policy.ts';

/**
 * The fields of a group's replacement policy (`policy.ts`) that careful replace reads: what a
 * rebalance recommendation does (`ignore`, `prelaunch` a standby, `replace` carefully), how a
 * standby ends (after `standby.maxAgeMinutes` without a warning: `promote` or `retire`), and how
 * much of a group may be in rebalance at once (`churnBudgetPercent`, at least one instance).
 */
export type CarefulPolicy = Pick<GroupPolicy, 'rebalance' | 'standby' | 'churnBudgetPercent'>;

/** What a rebalance recommendation does to an instance of the group. */
export type RebalancePolicy = CarefulPolicy['rebalance'];

/** The policy of every group by name, and of the instances that belong to none (the deployment's params). */
export interface CarefulPolicies {
  groups: Record<string, CarefulPolicy>;
  ungrouped: CarefulPolicy;
}

export const DEFAULT_CAREFUL_POLICY: CarefulPolicy = {
  rebalance: 'prelaunch',
  standby: { maxAgeMinutes: 60, end: 'retire' },
  churnBudgetPercent: 20,
};

/** The policy of an instance's group (`undefined`: the instance has none, or one not in the policy). */
export function policyOf(policies: CarefulPolicies, group: string | undefined): CarefulPolicy {
  return (group !== undefined ? policies.groups[group] : undefined) ?? policies.ungrouped;
}
