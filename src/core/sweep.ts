import type { InstanceOutcome } from './batch.ts';
import { throwTogether } from './concurrency.ts';
import { policyOf } from './group-policy.ts';
import { guardStatefulInstances } from './guard.ts';
import { handOff } from './handoff.ts';
import { sweepOrphans } from './orphans.ts';
import { overdue, standbyEndDue } from './plan.ts';
import { replaceAheadOfReclaim } from './pool-reclaim.ts';
import type { HandoffDeps } from './ports.ts';
import { keepRegistrationIndex } from './registration-index.ts';
import { revertFallbacksToSpot } from './revert-to-spot.ts';
import type { Workflow } from './workflow.ts';

/** Open workflows advanced side by side in one batch. */
export const SWEEP_PAGE_SIZE = 25;

/** Time kept free at the end of an invocation: a page is started only with more than this left. */
const SWEEP_RESERVE_MS = 15_000;

export interface SweepOptions {
  /** Milliseconds left in the invocation (Lambda's `getRemainingTimeInMillis`); default: no limit. */
  remainingMs?: () => number;
  pageSize?: number;
}

/**
 * The periodic sweep: first the guard (stateful instances' data survives termination ahead of any
 * event) and the registration index (where each managed instance serves, so its warning drains it
 * at once: `registration-index.ts`), then every open workflow is re-examined as if an event had
 * come, so a lost or late event, a launch that found no capacity, or an attachment still in
 * progress never leaves a workflow stuck; then the capacity actions (whole-pool replace-ahead,
 * revert to Spot). Safe to run any time: every step is idempotent.
 */
export async function sweepOpenWorkflows(
  deps: HandoffDeps,
  options: SweepOptions = {},
): Promise<InstanceOutcome[]> {
  // A failing guard must not stop the sweep, nor the sweep the guard; the invocation still fails
  // afterwards (for the alarm), with every failure.
  const [guarded, indexed, swept] = await Promise.allSettled([
    guardStatefulInstances(deps),
    keepRegistrationIndex(deps),
    sweep(deps, options),
  ]);
  // Then the capacity actions, which start careful replaces: the whole-pool action and the revert
  // of On-Demand fallbacks to Spot (each within its group's churn budget).
  const [ahead, reverted] = await Promise.allSettled([
    replaceAheadOfReclaim(deps),
    revertFallbacksToSpot(deps),
  ]);
  const failures = [guarded, indexed, swept, ahead, reverted].flatMap((part) =>
    part.status === 'rejected' ? [part.reason] : [],
  );
  if (swept.status === 'fulfilled') failures.push(...swept.value.failures);
  throwTogether(failures, 'parts of the sweep');
  return [
    ...(swept.status === 'fulfilled' ? swept.value.outcomes : []),
    ...[ahead, reverted].flatMap((part) => (part.status === 'fulfilled' ? part.value : [])),
  ];
}

/**
 * Every open workflow, oldest first, a page at a time while the invocation has time; the overdue
 * ones reported. What is left when time runs short is the next sweep's (every minute), oldest
 * first again, so no workflow waits behind newer ones. One page's failure does not stop the next.
 */
async function sweep(
  deps: HandoffDeps,
  { remainingMs = () => Number.POSITIVE_INFINITY, pageSize = SWEEP_PAGE_SIZE }: SweepOptions,
): Promise<{ outcomes: InstanceOutcome[]; failures: unknown[] }> {
  const outcomes: InstanceOutcome[] = [];
  const failures: unknown[] = [];
  let swept = 0;
  // Each workflow re-examined as if an event had come for its own instance; a batch's failure is
  // kept and does not stop the next one.
  const reexamine = async (workflows: readonly Workflow[]) => {
    const time = deps.clock.now().toISOString();
    const signals = workflows.map((w) => ({
      kind: 'sweep' as const,
      workflowOf: 'instance' as const,
      instanceId: w.instanceId,
      eventId: `sweep-${time}`,
      time,
    }));
    try {
      outcomes.push(...(await handOff(signals, deps, { failOnLaunchError: false })));
    } catch (error) {
      failures.push(error);
    }
  };
  let orphansSwept = false;
  // Orphans (fleet instances no workflow recorded) are adopted by the oldest open workflows that
  // still wait for a replacement, else terminated: once per sweep, with the first page.
  const sweepOrphansOnce = async (page: readonly Workflow[]) => {
    if (orphansSwept) return;
    orphansSwept = true;
    await sweepOrphans(deps, page).catch((error: unknown) => failures.push(error));
  };
  for await (const page of deps.store.openWorkflows(pageSize)) {
    await sweepOrphansOnce(page);
    if (remainingMs() < SWEEP_RESERVE_MS + deps.settings.attachWaitMs) {
      deps.log.warn('Sweep stopped for want of time: the next sweep continues, oldest first.', {
        swept,
        remainingMs: remainingMs(),
      });
      break;
    }
    swept += page.length;
    reportOverdue(page, deps);
    deps.log.info(`Sweeping ${page.length} open workflows.`, { workflows: page.map((w) => w.workflowId) });
    await reexamine(page);
  }
  await sweepOrphansOnce([]);
  // A standby that has served its `standby.maxAgeMinutes` without a warning ends (promoted or retired).
  const now = deps.clock.now();
  const endingStandbys = (await deps.store.list({ status: 'standby' })).filter(
    (w) => standbyEndDue(w, policyOf(deps.settings.policies, w.group), now) !== undefined,
  );
  swept += endingStandbys.length;
  if (endingStandbys.length > 0) await reexamine(endingStandbys);
  deps.metrics.count('WorkflowsSwept', swept);
  return { outcomes, failures };
}

function reportOverdue(open: readonly Workflow[], deps: HandoffDeps): void {
  const now = deps.clock.now();
  const late = open.flatMap((w) => {
    const step = overdue(w, now);
    return step ? [{ workflowId: w.workflowId, instanceId: w.instanceId, step }] : [];
  });
  deps.metrics.count('OverdueWorkflows', late.length);
  for (const { workflowId, instanceId, step } of late) {
    deps.log
      .with({ workflowId, instanceId })
      .warn(`Overdue: ${step} has passed its deadline; see the workflow's reason.`);
  }
}
