// Checks every deployment parameter (serverless.yml's `params`, `--param`, `--stage`, `--region`)
// while Serverless resolves the configuration (`custom.deploymentParams`), so `npm run package` and
// `serverless deploy` stop before anything is built, naming each bad parameter with its value and
// what is allowed. The params the functions read through environment variables are checked by the
// functions' own configuration reader (src/config.ts), so packaging accepts exactly what they do.
'use strict';

const { join } = require('node:path');
const { LogLevel } = require('@aws-lambda-powertools/logger');
const tsx = require('tsx/cjs/api');
const { MAX_INSTANCES_PER_ACTION } = require('./game-day.cjs');

const { readConfig, ConfigError } = tsx.require(join(__dirname, '../src/config.ts'), __filename);

/** Retention periods CloudWatch Logs accepts, in days. */
const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];
/** IAM role names are at most 64 characters; osls names the functions' role `<service>-<stage>-<region>-lambdaRole`. */
const ROLE_NAME_LIMIT = 64;

// A rule takes the value (and all values, for rules that depend on another param) and returns
// what is wrong with it, in words, or undefined.

/** Checked by src/config.ts, as the functions will read it from `variable`. */
const readBy = (variable) => (value) => {
  if (String(value) === '') return `set a value for ${variable}: it may not be empty.`;
  try {
    readConfig({ HANDOFF_TABLE_NAME: 'packaging', [variable]: String(value) });
    return undefined;
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
};
const oneOf = (allowed) => (value) =>
  allowed.map(String).includes(String(value)) ? undefined : `use one of ${allowed.join(', ')}.`;
const wholeNumber = (min, max) => (value) => {
  const number = Number(value);
  return String(value).trim() !== '' && Number.isInteger(number) && number >= min && number <= max
    ? undefined
    : `use a whole number from ${min} to ${max}.`;
};
const matching = (pattern, allowed) => (value) =>
  pattern.test(String(value)) ? undefined : `use ${allowed}.`;
const optional = (rule) => (value, values) => (String(value) === '' ? undefined : rule(value, values));

const TAG_KEY = matching(
  /^(?!aws:)[\p{L}\p{Z}\p{N}_.:/=+\-@]{1,128}$/u,
  'a tag key: 1 to 128 letters, digits, spaces and _.:/=+-@, not starting with "aws:"',
);
const TAG_VALUE = matching(
  /^[\p{L}\p{Z}\p{N}_.:/=+\-@]{0,256}$/u,
  'a tag value: up to 256 letters, digits, spaces and _.:/=+-@',
);
const EMAIL = matching(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'an e-mail address, or nothing for no subscription');
const SNS_TOPIC_ARN = matching(
  /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/,
  'the ARN of an SNS topic (arn:aws:sns:<region>:<account>:<name>), or nothing',
);

/** The params the functions' configuration reader checks, by the variable it reads each from. */
const READ_BY_FUNCTIONS = {
  managedTagKey: 'HANDOFF_MANAGED_TAG_KEY',
  statefulTagKey: 'HANDOFF_STATEFUL_TAG_KEY',
  rebalanceAction: 'HANDOFF_REBALANCE_ACTION',
  retentionDays: 'HANDOFF_RETENTION_DAYS',
  handoverTimeoutSeconds: 'HANDOFF_HANDOVER_TIMEOUT_SECONDS',
  attachWaitSeconds: 'HANDOFF_ATTACH_WAIT_SECONDS',
  standbyMaxAgeMinutes: 'HANDOFF_STANDBY_MAX_AGE_MINUTES',
  standbyEnd: 'HANDOFF_STANDBY_END',
  churnBudgetPercent: 'HANDOFF_CHURN_BUDGET_PERCENT',
  healingAlarmPrefix: 'HANDOFF_HEALING_ALARM_PREFIX',
  healCooldownMinutes: 'HANDOFF_HEAL_COOLDOWN_MINUTES',
  healBudgetPercent: 'HANDOFF_HEAL_BUDGET_PERCENT',
};

/** A param whose own resource file checks it when it builds (and fails packaging naming it). */
const checkedWhereUsed = () => undefined;

/** Every param of serverless.yml and what it allows. */
const RULES = {
  ...Object.fromEntries(
    Object.entries(READ_BY_FUNCTIONS).map(([name, variable]) => [name, readBy(variable)]),
  ),
  groupTagKey: TAG_KEY,
  // infra/policy.cjs reads and validates the file, naming every bad field.
  policyFile: checkedWhereUsed,
  logLevel: oneOf(Object.values(LogLevel)),
  logRetentionInDays: oneOf(LOG_RETENTION_DAYS),
  awsMaxAttempts: wholeNumber(1, 10),
  delivery: oneOf(['queue', 'direct']),
  // Checked where they are used, with messages that name them: infra/iam.cjs (target groups,
  // instance roles) and infra/replay.cjs (the replay bus).
  targetGroupArns: checkedWhereUsed,
  instanceRoleArns: checkedWhereUsed,
  replayEnabled: oneOf(['false', 'true']),
  replayPrincipalArns: checkedWhereUsed,
  alarmTopicArn: optional(SNS_TOPIC_ARN),
  alarmEmail: optional(EMAIL),
  noticeEmail: optional(EMAIL),
  massReclaimWarningsPerMinute: wholeNumber(2, 10_000),
  gameDay: oneOf(['false', 'true']),
  gameDayGroup: (value, values) =>
    String(values.gameDay) === 'true' && String(value) === ''
      ? `name the group to interrupt (its instances carry the tag ${values.groupTagKey}=<name>) when gameDay is true.`
      : TAG_VALUE(value),
  gameDayInstances: wholeNumber(1, MAX_INSTANCES_PER_ACTION),
  gameDayDurationBeforeInterruption: matching(/^PT([2-9]|1[0-5])M$/, 'whole minutes from PT2M to PT15M'),
};

/** Thrown with every problem found; printed by Serverless without a stack trace. */
class DeploymentParamsError extends Error {
  constructor(problems) {
    super(
      `${problems.length === 1 ? 'A deployment parameter is' : `${problems.length} deployment parameters are`} not valid:\n${problems
        .map((problem) => `      - ${problem}`)
        .join('\n')}\n    Pass good values with --param="name=value", or change params in serverless.yml.`,
    );
    this.name = 'DeploymentParamsError';
    this.stack = this.message;
  }
}

/**
 * What is wrong with the deployment's parameters, one line per problem (empty when all is well).
 *
 * @param {object} input
 * @param {Record<string, unknown>} input.values every param's value
 * @param {string[]} [input.given] names given on the command line or for a stage
 * @param {string} input.service
 * @param {string} input.stage
 * @param {string} input.region
 */
function problems({ values, given = [], service, stage, region }) {
  const found = [];
  for (const name of new Set(given)) {
    if (!(name in RULES))
      found.push(`${name}: no such parameter; the parameters are ${Object.keys(RULES).join(', ')}.`);
  }
  for (const [name, rule] of Object.entries(RULES)) {
    if (!(name in values)) {
      found.push(`${name}: missing from serverless.yml's params.default.`);
      continue;
    }
    const problem = rule(values[name], values);
    if (problem) found.push(`${name}=${JSON.stringify(String(values[name]))}: ${problem}`);
  }
  if (!/^[a-z]{2}(-[a-z]+)+-\d{1,2}$/.test(String(region))) {
    found.push(
      `--region ${JSON.stringify(String(region))}: use an AWS Region code such as us-east-1 or eu-west-1.`,
    );
  }
  const roleName = `${service}-${stage}-${region}-lambdaRole`;
  if (roleName.length > ROLE_NAME_LIMIT) {
    found.push(
      `--stage ${JSON.stringify(stage)}: the functions' role name ${roleName} would be ${roleName.length} characters, IAM allows ${ROLE_NAME_LIMIT}: use a stage of at most ${stage.length - (roleName.length - ROLE_NAME_LIMIT)} characters.`,
    );
  }
  return found;
}

/** The names of `--param="name=value"` options (osls passes them as a list of `name=value`). */
function cliParamNames(options) {
  const given = options.param ?? [];
  return (Array.isArray(given) ? given : [given]).map((item) => String(item).split('=')[0]);
}

module.exports = async ({ options, resolveConfigurationProperty, resolveVariable }) => {
  const declared = (await resolveConfigurationProperty(['params'])) ?? {};
  const names = Object.keys(declared.default ?? {});
  const values = {};
  for (const name of names) values[name] = await resolveVariable(`param:${name}`);
  const stageNames = Object.entries(declared).flatMap(([stage, params]) =>
    stage === 'default' ? [] : Object.keys(params ?? {}),
  );
  const found = problems({
    values,
    given: [...cliParamNames(options), ...stageNames, ...names],
    service: await resolveVariable('self:service'),
    stage: await resolveVariable('sls:stage'),
    region: await resolveConfigurationProperty(['provider', 'region']),
  });
  if (found.length > 0) throw new DeploymentParamsError(found);
  return values;
};
module.exports.problems = problems;
module.exports.RULES = RULES;
module.exports.READ_BY_FUNCTIONS = READ_BY_FUNCTIONS;
