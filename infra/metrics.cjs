// The CloudWatch metrics of spot-handoff: the one list the alarms (infra/alarms.yml), the dashboard
// (infra/dashboard.cjs) and the README refer to.
//
// The functions publish them as CloudWatch embedded metric format (EMF) through Powertools Metrics:
// namespace `SpotHandoff`, one dimension `service` = `spot-handoff` (Powertools' default dimension,
// from the service name), published when an invocation ends. The core names a metric through
// `metrics.count(name, value)` (src/core/ports.ts, `MetricName`), or `metrics.handoffSeconds(s)`.
//
// `planned: true` marks a name the code does not publish yet: the alarms and the dashboard already
// use it, and stay quiet (missing data is not breaching) until the code publishes it under exactly
// this name, unit and dimension. test/unit/operations.test.ts keeps this list and the code in step.
'use strict';

const NAMESPACE = 'SpotHandoff';
const SERVICE = 'spot-handoff';
/** The dimensions every metric carries (Powertools' default dimension). */
const DIMENSIONS = { service: SERVICE };

/**
 * @typedef {object} Metric
 * @property {string} name
 * @property {'Count' | 'Seconds'} unit
 * @property {string} description what one unit of it means, and when it is published
 * @property {boolean} [planned] not published by the code yet
 */

/** @type {Metric[]} */
const METRICS = [
  // Events in
  { name: 'EventsReceived', unit: 'Count', description: 'Events a function received.' },
  {
    name: 'InvalidEvents',
    unit: 'Count',
    description:
      'Events that did not parse: logged naming the field; the invocation fails (Lambda retries it twice, then the dead-letter queue).',
  },
  {
    name: 'IgnoredEvents',
    unit: 'Count',
    description: 'Events of a kind or state the handoff does not act on.',
  },
  {
    name: 'RefusedEvents',
    unit: 'Count',
    description:
      'Events refused by the trust checks (larger than 256 KB, nested too deep, another account or Region): logged with the reason, no write, no retry.',
  },
  {
    name: 'UntimelyEvents',
    unit: 'Count',
    description:
      'Events dated too far from now (HANDOFF_EVENT_MAX_AGE_SECONDS, HANDOFF_EVENT_MAX_FUTURE_SECONDS): they start nothing, and only advance an existing workflow.',
  },
  {
    name: 'UnknownInstanceEvents',
    unit: 'Count',
    description: 'Events for an instance EC2 does not know, with no workflow: nothing written.',
  },
  {
    name: 'UnmanagedInstancesSkipped',
    unit: 'Count',
    description: 'Events for instances without the managed tag.',
  },
  // Interruptions by kind
  {
    name: 'InterruptionWarnings',
    unit: 'Count',
    description: 'Workflows started by a Spot interruption warning.',
  },
  {
    name: 'RebalanceRecommendations',
    unit: 'Count',
    description: 'Workflows started by a rebalance recommendation.',
  },
  // Handoffs
  { name: 'WorkflowsStarted', unit: 'Count', description: 'Handoff workflows started.' },
  { name: 'WorkflowsCompleted', unit: 'Count', description: 'Handoff workflows completed (any outcome).' },
  {
    name: 'WorkflowsFailed',
    unit: 'Count',
    description:
      'Handoffs whose replacement does not serve by the handover deadline (the handover timeout after the old instance stopped): counted once per workflow, recorded as a failed register step; the workflow keeps trying.',
  },
  {
    name: 'OverdueWorkflows',
    unit: 'Count',
    description: 'Open workflows past a deadline, counted by each sweep (read its Maximum).',
  },
  { name: 'StepsLate', unit: 'Count', description: 'Steps recorded after their deadline (any step).' },
  { name: 'WorkflowsSwept', unit: 'Count', description: 'Open workflows re-examined by a sweep.' },
  {
    name: 'RecordsRetried',
    unit: 'Count',
    description:
      'Queue records reported back as batch item failures (work left undone, e.g. AWS throttled it): delivered again after the visibility timeout, not a function error.',
  },
  {
    name: 'ThrottledWorkLeftToSweep',
    unit: 'Count',
    description:
      'Direct delivery: AWS throttled the work after the workflow was recorded; the sweep resumes it instead of the invocation failing.',
  },
  {
    name: 'WriteConflicts',
    unit: 'Count',
    description: 'Conditional writes lost to a concurrent writer (then retried).',
  },
  {
    name: 'InstancesGuarded',
    unit: 'Count',
    description: 'Stateful instances whose data the sweep set to survive termination.',
  },
  // Drains
  { name: 'TargetsDeregistered', unit: 'Count', description: 'Target registrations drained (deregistered).' },
  {
    name: 'DrainsLate',
    unit: 'Count',
    description: 'Drains requested after their deadline (the time EC2 reclaims the instance).',
  },
  {
    name: 'ElbApiCalls',
    unit: 'Count',
    description: 'ELBv2 API calls made (shared calls split among their workflows).',
  },
  // Launches
  { name: 'ReplacementsLaunched', unit: 'Count', description: 'Replacements launched (any capacity type).' },
  {
    name: 'SpotReplacementsLaunched',
    unit: 'Count',
    description: 'Replacements launched as Spot instances (counted when first seen running).',
  },
  {
    name: 'OnDemandReplacementsLaunched',
    unit: 'Count',
    description:
      'Replacements launched On-Demand (Reserved Instances and capacity reservations included; counted when first seen running).',
  },
  {
    name: 'ReplacementLaunchFailures',
    unit: 'Count',
    description: 'Launch attempts that failed (no capacity, limits); the sweep retries.',
  },
  { name: 'TargetsRegistered', unit: 'Count', description: 'Target registrations made for replacements.' },
  // Durations
  {
    name: 'EventToDrainSeconds',
    unit: 'Seconds',
    description: "From the signal's EventBridge `time` to the drain requested.",
  },
  {
    name: 'EventToLaunchSeconds',
    unit: 'Seconds',
    description: "From the signal's EventBridge `time` to the replacement's launch requested.",
  },
  {
    name: 'EventToRegistrationSeconds',
    unit: 'Seconds',
    description: "From the signal's EventBridge `time` to the replacement registered in every target group.",
  },
  {
    name: 'HandoffSeconds',
    unit: 'Seconds',
    description: 'From the workflow started to the replacement registered.',
  },
  // Careful replace, standbys and healing
  {
    name: 'CarefulReplacesStarted',
    unit: 'Count',
    description:
      'Careful replaces started (rebalance `replace`, healing, whole-pool action, revert to Spot): the replacement serves before the old instance is drained.',
  },
  {
    name: 'OldInstancesTerminated',
    unit: 'Count',
    description: 'Old instances terminated by a careful replace once drained.',
  },
  {
    name: 'ChurnBudgetExceeded',
    unit: 'Count',
    description:
      'Careful replaces held back because the group was at its churn budget; the sweep admits them later.',
  },
  {
    name: 'StandbysPromoted',
    unit: 'Count',
    description: 'Pre-launched standbys promoted at their end (the old instance drained and terminated).',
  },
  {
    name: 'StandbysRetired',
    unit: 'Count',
    description: 'Pre-launched standbys retired at their end (the standby drained and terminated).',
  },
  {
    name: 'HealingAlarms',
    unit: 'Count',
    description: 'Alarm state changes into ALARM of alarms marked for healing.',
  },
  {
    name: 'InstancesHealed',
    unit: 'Count',
    description: 'Instances a healing alarm started a careful replace for.',
  },
  {
    name: 'HealingSkippedCooldown',
    unit: 'Count',
    description: 'Instances not healed again within the heal cooldown (a flapping alarm).',
  },
  {
    name: 'HealingSuspended',
    unit: 'Count',
    description: 'Healing stopped because too much of a group was unhealthy at once (healBudgetPercent).',
  },
];

const byName = new Map(METRICS.map((metric) => [metric.name, metric]));

/** The metric named `name`; throws for a name not in the list, so a typo fails packaging. */
function metric(name) {
  const found = byName.get(name);
  if (!found) throw new Error(`infra/metrics.cjs lists no metric named ${JSON.stringify(name)}.`);
  return found;
}

module.exports = { NAMESPACE, SERVICE, DIMENSIONS, METRICS, metric };
