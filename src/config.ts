import type { CarefulPolicy } from './core/group-policy.ts';
import { NO_GROUPS, type Policy, PolicyError, parsePolicy } from './core/policy.ts';
import type { HandoffTags } from './core/ports.ts';

/** The replacement policy embedded in the bundle when the deployment was packaged (JSON), if any. */
declare const __HANDOFF_POLICY__: string | undefined;

/**
 * Configuration, read once from the environment, typed, and loud about what is wrong.
 * Every variable is documented in the README's configuration reference.
 */

export class ConfigError extends Error {
  override name = 'ConfigError';
}

export type RebalanceAction = CarefulPolicy['rebalance'];

export interface Config {
  /** DynamoDB table holding workflows (`HANDOFF_TABLE_NAME`). */
  tableName: string;
  /** Tag key that opts an instance in; its value must be `true` (`HANDOFF_MANAGED_TAG_KEY`). */
  managedTagKey: string;
  /** Tag key that asks for the stateful handoff (`HANDOFF_STATEFUL_TAG_KEY`). */
  statefulTagKey: string;
  /** What a rebalance recommendation does (`HANDOFF_REBALANCE_ACTION`). */
  rebalanceAction: RebalanceAction;
  /** Days a finished workflow is kept before DynamoDB TTL removes it (`HANDOFF_RETENTION_DAYS`). */
  retentionDays: number;
  /**
   * Seconds a handover waits within one invocation for attachments to complete before leaving them
   * to the next sweep (`HANDOFF_ATTACH_WAIT_SECONDS`, 0 to not wait).
   */
  attachWaitSeconds: number;
  /** Seconds after the old instance stops by which the handover and registration are due (`HANDOFF_HANDOVER_TIMEOUT_SECONDS`). */
  handoverTimeoutSeconds: number;
  /**
   * How many containers of this function may spend EC2's and ELBv2's buckets at once
   * (`HANDOFF_API_BUDGET_CONCURRENCY`; the deployment sets its queue's maximum concurrency): each
   * container spends 1/this of every bucket. Default 2.
   */
  apiBudgetConcurrency: number;
  /** The deployment's account when the invocation does not say it (`HANDOFF_ACCOUNT_ID`; Lambda: its function ARN). */
  accountId?: string;
  /** The deployment's Region when the invocation does not say it (`AWS_REGION`; Lambda: its function ARN). */
  region?: string;
  /** Other accounts whose events are acted on (`HANDOFF_TRUSTED_ACCOUNTS`, comma-separated; default none). */
  trustedAccounts: string[];
  /** Seconds after its `time` an event still starts a workflow (`HANDOFF_EVENT_MAX_AGE_SECONDS`). */
  eventMaxAgeSeconds: number;
  /** Seconds an event may be dated ahead of now, for clock skew (`HANDOFF_EVENT_MAX_FUTURE_SECONDS`). */
  eventMaxFutureSeconds: number;
  /** Minutes a pre-launched standby lives without a warning before it ends (`HANDOFF_STANDBY_MAX_AGE_MINUTES`). */
  standbyMaxAgeMinutes: number;
  /** How a standby ends: `retire` it or `promote` it (`HANDOFF_STANDBY_END`). */
  standbyEnd: CarefulPolicy['standby']['end'];
  /** Most of a group's managed instances in rebalance at once, in percent (`HANDOFF_CHURN_BUDGET_PERCENT`). */
  churnBudgetPercent: number;
  /** Only alarms whose name starts with this heal (`HANDOFF_HEALING_ALARM_PREFIX`). */
  healingAlarmPrefix: string;
  /** An instance is healed at most once in this many minutes (`HANDOFF_HEAL_COOLDOWN_MINUTES`). */
  healCooldownMinutes: number;
  /** Most of a group healing at once, in percent; beyond it healing stops and alerts (`HANDOFF_HEAL_BUDGET_PERCENT`). */
  healBudgetPercent: number;
  /** Tag key whose value names an instance's group (`HANDOFF_GROUP_TAG_KEY`). */
  groupTagKey: string;
  /** Replacement policies per group: `policy.yml`, embedded when packaged (or `HANDOFF_POLICY`, JSON). */
  policy: Policy;
}

export const TAG_PREFIX = 'spot-handoff:';
export const REPLACES_TAG = `${TAG_PREFIX}replaces`;
export const WORKFLOW_TAG = `${TAG_PREFIX}workflow`;
export const GROUP_TAG = `${TAG_PREFIX}group`;

/** Every tag key the handoff reads and writes, given the configurable opt-in and group keys. */
export function handoffTags({
  managedTagKey,
  statefulTagKey,
  groupTagKey = GROUP_TAG,
}: Pick<Config, 'managedTagKey' | 'statefulTagKey'> & Partial<Pick<Config, 'groupTagKey'>>): HandoffTags {
  return {
    managed: managedTagKey,
    group: groupTagKey,
    stateful: statefulTagKey,
    replaces: REPLACES_TAG,
    workflow: WORKFLOW_TAG,
    ready: `${TAG_PREFIX}state`,
    leftAvailable: `${TAG_PREFIX}left-available`,
    sourceVolume: `${TAG_PREFIX}source-volume`,
    restoredFrom: `${TAG_PREFIX}restored-from`,
    migratedTo: `${TAG_PREFIX}migrated-to`,
    fleetToken: `${TAG_PREFIX}fleet-token`,
    options: {
      volumes: `${TAG_PREFIX}volumes`,
      networkInterfaces: `${TAG_PREFIX}network-interfaces`,
      privateIps: `${TAG_PREFIX}private-ips`,
      elasticIps: `${TAG_PREFIX}elastic-ips`,
      primaryIp: `${TAG_PREFIX}primary-ip`,
      rootVolume: `${TAG_PREFIX}root-volume`,
    },
  };
}

type Env = Record<string, string | undefined>;

const ACCOUNT_ID = /^\d{12}$/;

function accountIds(env: Env, name: string): string[] {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return [];
  const ids = raw.split(',').map((id) => id.trim());
  const bad = ids.find((id) => !ACCOUNT_ID.test(id));
  if (bad !== undefined) {
    throw new ConfigError(
      `${name}=${JSON.stringify(raw)} is not valid: ${JSON.stringify(bad)} is not a 12-digit AWS account id; use comma-separated account ids.`,
    );
  }
  return ids;
}

function oneOf<T extends string>(env: Env, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if ((allowed as readonly string[]).includes(raw)) return raw as T;
  throw new ConfigError(`${name}=${JSON.stringify(raw)} is not valid: use one of ${allowed.join(', ')}.`);
}

function wholeNumber(env: Env, name: string, fallback: number, min: number, max: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(
      `${name}=${JSON.stringify(raw)} is not valid: use a whole number from ${min} to ${max}.`,
    );
  }
  return value;
}

function tagKey(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw.length > 128 || raw.startsWith('aws:')) {
    throw new ConfigError(
      `${name}=${JSON.stringify(raw)} is not a valid tag key: at most 128 characters, not starting with "aws:".`,
    );
  }
  return raw;
}

function alarmPrefix(env: Env, name: string, fallback: string): string {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (raw.length > 200) {
    throw new ConfigError(
      `${name}=${JSON.stringify(raw)} is not valid: use the start of an alarm name, at most 200 characters.`,
    );
  }
  return raw;
}

/** Reads the configuration; throws a {@link ConfigError} naming the variable at fault. */
export function readConfig(env: Env = process.env): Config {
  const tableName = env['HANDOFF_TABLE_NAME'];
  if (!tableName) {
    throw new ConfigError(
      'HANDOFF_TABLE_NAME is not set: set it to the name of the workflow table (serverless.yml sets it on deploy).',
    );
  }
  return {
    tableName,
    managedTagKey: tagKey(env, 'HANDOFF_MANAGED_TAG_KEY', `${TAG_PREFIX}managed`),
    statefulTagKey: tagKey(env, 'HANDOFF_STATEFUL_TAG_KEY', `${TAG_PREFIX}stateful`),
    rebalanceAction: oneOf(
      env,
      'HANDOFF_REBALANCE_ACTION',
      ['prelaunch', 'ignore', 'replace'] as const,
      'prelaunch',
    ),
    retentionDays: wholeNumber(env, 'HANDOFF_RETENTION_DAYS', 30, 1, 3650),
    attachWaitSeconds: wholeNumber(env, 'HANDOFF_ATTACH_WAIT_SECONDS', 10, 0, 40),
    handoverTimeoutSeconds: wholeNumber(env, 'HANDOFF_HANDOVER_TIMEOUT_SECONDS', 600, 60, 86_400),
    apiBudgetConcurrency: wholeNumber(env, 'HANDOFF_API_BUDGET_CONCURRENCY', 2, 1, 1000),
    accountId: accountIds(env, 'HANDOFF_ACCOUNT_ID')[0],
    region: env['AWS_REGION'] || undefined,
    trustedAccounts: accountIds(env, 'HANDOFF_TRUSTED_ACCOUNTS'),
    eventMaxAgeSeconds: wholeNumber(env, 'HANDOFF_EVENT_MAX_AGE_SECONDS', 600, 60, 86_400),
    eventMaxFutureSeconds: wholeNumber(env, 'HANDOFF_EVENT_MAX_FUTURE_SECONDS', 60, 0, 3_600),
    standbyMaxAgeMinutes: wholeNumber(env, 'HANDOFF_STANDBY_MAX_AGE_MINUTES', 60, 1, 10_080),
    standbyEnd: oneOf(env, 'HANDOFF_STANDBY_END', ['retire', 'promote'] as const, 'retire'),
    churnBudgetPercent: wholeNumber(env, 'HANDOFF_CHURN_BUDGET_PERCENT', 20, 1, 100),
    healingAlarmPrefix: alarmPrefix(env, 'HANDOFF_HEALING_ALARM_PREFIX', 'spot-handoff-heal-'),
    healCooldownMinutes: wholeNumber(env, 'HANDOFF_HEAL_COOLDOWN_MINUTES', 30, 1, 10_080),
    healBudgetPercent: wholeNumber(env, 'HANDOFF_HEAL_BUDGET_PERCENT', 25, 1, 100),
    groupTagKey: tagKey(env, 'HANDOFF_GROUP_TAG_KEY', GROUP_TAG),
    policy: readPolicy(env),
  };
}

/** The policy embedded at packaging time, else `HANDOFF_POLICY` (JSON), else no groups; validated either way. */
function readPolicy(env: Env): Policy {
  const raw =
    env['HANDOFF_POLICY'] || (typeof __HANDOFF_POLICY__ === 'string' ? __HANDOFF_POLICY__ : undefined);
  if (!raw) return NO_GROUPS;
  try {
    return parsePolicy(JSON.parse(raw));
  } catch (error) {
    if (error instanceof PolicyError) {
      throw new ConfigError(`${error.message}\nFix policy.yml (or HANDOFF_POLICY) and package again.`, {
        cause: error,
      });
    }
    throw new ConfigError(`The replacement policy is not JSON: ${String(error)}. Package policy.yml again.`, {
      cause: error,
    });
  }
}
