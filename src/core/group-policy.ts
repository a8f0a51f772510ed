/**
 * The fields of a group's replacement policy that careful replace reads: what a rebalance
 * recommendation does, how a standby ends, and how much of a group may be in rebalance at once.
 * The one import point for them: the full `GroupPolicy` (types, subnets, capacity…) is defined in
 * `policy.ts`; until that lands these fields are built from the deployment's settings.
 */

/** What a rebalance recommendation does to an instance of the group. */
export type RebalancePolicy = 'ignore' | 'prelaunch' | 'replace';

export interface CarefulPolicy {
  /** `ignore`: nothing; `prelaunch`: a standby beside the old instance; `replace`: a careful replace. */
  rebalance: RebalancePolicy;
  /** A pre-launched standby ends after `maxAgeMinutes` without a warning: `promote` or `retire`. */
  standby: { maxAgeMinutes: number; end: 'promote' | 'retire' };
  /** At most this share of the group's managed instances in rebalance at once (at least one). */
  churnBudgetPercent: number;
}

/** The policy of every group by name, and of the instances that belong to none. */
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
