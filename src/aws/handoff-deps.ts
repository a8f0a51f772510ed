import { type Config, handoffTags } from '../config.ts';
import { lookbackMs } from '../core/pool-reclaim.ts';
import type { Clock, HandoffDeps, HandoffSettings, Log, Metrics } from '../core/ports.ts';
import { type CapacitySignalCache, Ec2CapacitySignals } from './capacity-signals.ts';
import type { HandoffClients } from './clients.ts';
import type { PlanLog } from './dry-run.ts';
import { Ec2Compute } from './ec2.ts';
import { Ec2StatefulResources } from './ec2-stateful.ts';
import { Elbv2LoadBalancing } from './elbv2.ts';
import { DynamoPoolMemory } from './pool-memory.ts';
import { DynamoRegistrationIndex } from './registration-index.ts';
import { DryRunWorkflowStore, DynamoWorkflowStore } from './workflow-store.ts';

export interface AwsHandoffOptions {
  config: Config;
  clients: HandoffClients;
  log: Log;
  metrics: Metrics;
  /** Dry run: EC2 mutations go with `DryRun=true`, ELB and DynamoDB writes are only recorded here. */
  dryRunPlan?: PlanLog;
  /** Default: the system clock (in Lambda, EC2's own time). */
  clock?: Clock;
  /** The invocation's: every SDK call ends when it aborts (shortly before the Lambda timeout). */
  abortSignal?: AbortSignal;
  /** The container's capacity answers, shared by its invocations (default: this call's own). */
  capacityCache?: CapacitySignalCache;
}

const systemClock = {
  now: () => new Date(),
  sleep: (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)),
};

/** The handoff's ports over AWS (or anything the SDK's endpoints point at). */
export function awsHandoffDeps({
  config,
  clients,
  log,
  metrics,
  dryRunPlan,
  clock,
  abortSignal,
  capacityCache,
}: AwsHandoffOptions): HandoffDeps {
  const dryRun = dryRunPlan !== undefined;
  const store = new DynamoWorkflowStore({
    client: clients.documentClient,
    tableName: config.tableName,
    abortSignal,
    readOnly: dryRun,
  });
  const ec2 = { client: clients.ec2, dryRun, plan: dryRunPlan, abortSignal };
  const time = clock ?? systemClock;
  return {
    compute: new Ec2Compute(ec2),
    loadBalancing: new Elbv2LoadBalancing({ client: clients.elbv2, dryRun, plan: dryRunPlan, abortSignal }),
    stateful: new Ec2StatefulResources(ec2),
    store: dryRunPlan
      ? new DryRunWorkflowStore({ plan: dryRunPlan, readThrough: store, tableName: config.tableName })
      : store,
    registrations: new DynamoRegistrationIndex({
      client: clients.documentClient,
      tableName: config.tableName,
      clock: () => time.now().getTime(),
      ...(dryRunPlan ? { dryRunPlan } : {}),
      abortSignal,
    }),
    capacity: new Ec2CapacitySignals({ client: clients.ec2, clock: time, cache: capacityCache, abortSignal }),
    ...(dryRun
      ? {}
      : {
          poolMemory: new DynamoPoolMemory({
            client: clients.documentClient,
            tableName: config.tableName,
            // An avoidance lasts its whole `avoidMinutes` only if the interruptions behind it are kept.
            keepMs: Math.max(
              24 * 60 * 60_000,
              ...Object.values(config.policy.groups).map((group) => lookbackMs(group.poolReclaim)),
            ),
          }),
        }),
    clock: time,
    log,
    metrics,
    settings: handoffSettings(config),
  };
}

/** The handoff's settings: the configuration, with every tag key as a value. */
export function handoffSettings(config: Config): HandoffSettings {
  return {
    tags: handoffTags(config),
    // A group in policy.yml has its own; an instance of no group (or of a group the policy does
    // not name) follows the deployment's params.
    policies: {
      // Each group's careful-replace fields, from its replacement policy.
      groups: Object.fromEntries(
        Object.entries(config.policy.groups).map(([name, { rebalance, standby, churnBudgetPercent }]) => [
          name,
          { rebalance, standby, churnBudgetPercent },
        ]),
      ),
      ungrouped: {
        rebalance: config.rebalanceAction,
        standby: { maxAgeMinutes: config.standbyMaxAgeMinutes, end: config.standbyEnd },
        churnBudgetPercent: config.churnBudgetPercent,
      },
    },
    healing: {
      alarmPrefix: config.healingAlarmPrefix,
      cooldownMs: config.healCooldownMinutes * 60_000,
      budgetPercent: config.healBudgetPercent,
    },
    retentionDays: config.retentionDays,
    attachWaitMs: config.attachWaitSeconds * 1000,
    handoverTimeoutMs: config.handoverTimeoutSeconds * 1000,
    events: {
      accountId: config.accountId,
      region: config.region,
      trustedAccounts: config.trustedAccounts,
      maxAgeMs: config.eventMaxAgeSeconds * 1000,
      maxFutureMs: config.eventMaxFutureSeconds * 1000,
    },
    policy: config.policy,
    groupTagKey: config.groupTagKey,
  };
}
